/* The page's one mutable state object, shared by every module (what is shown, requests in
 * flight, the profile, the crop box). */

import { loadProfile } from "./profile-store.js";

function initialSeed() {
  // ?seed=N gives a reproducible landing page (screenshots, tests).
  const fromUrl = Number.parseInt(new URLSearchParams(location.search).get("seed"), 10);
  return Number.isFinite(fromUrl) && fromUrl >= 0 ? fromUrl : Math.floor(Math.random() * 1e9);
}

export const state = {
  k: 10,
  filters: {}, // column -> array of selected values
  query: null, // {type: "photo", key, crop, garment} | {type: "item", id} | {type: "for-you"} | null
  seed: initialSeed(),
  expanded: new Set(), // facet columns showing all their values
  facets: [],
  facetsLoaded: false,
  facetsSeq: 0, // request counters: only the newest answer is rendered
  samplesSeq: 0,
  maxUploadBytes: null, // from /healthz
  controller: null, // AbortController of the query in flight
  profile: loadProfile(), // {liked: [{id, title}], disliked: [{id, title}]}, newest last
  forYouSeq: 0,
  forYouController: null,
  photos: new Map(), // photo key -> {blob, name}: photos of this visit, for Back/Forward
  appliedHash: null, // the address part last shown
  filtersKey: "", // the filters the facets and samples were last loaded for
  drawerOpen: false,
  closingDrawer: false,
  health: null,
  healthLoaded: null, // the /healthz request's promise
  previewKey: null, // the photo the preview shows (kept while only its crop changes)
  cropShown: null, // [x, y, w, h] the crop box shows
  cropAnswered: null, // the crop the shown results answer (the server's pick or the asked)
  cropDrag: null, // the pointer drag in progress
  cropTimer: 0, // a pending refresh after a change
  looks: new Map(), // photo key -> its look answer (garments and their results), newest last
  garmentsDrawn: "", // the photo and garments the boxes over it show
};
