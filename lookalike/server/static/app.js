/* lookalike web page: take or choose a photo, or pick a catalog item, and see its lookalikes.
 *
 * Plain JavaScript ES modules, no build step: this entry module wires the page and shows
 * what the address says; each area lives in js/ (see docs/web-page.md#scripts). All data
 * comes from the JSON API next to this page (see /docs). What the shopper sees is a function
 * of the address: the part after "#" names the query (item=ID, photo=a small JPEG of the
 * uploaded photo, or view=for-you), the part of the photo to match (crop=x,y,w,h, set with
 * the crop box), the number of results (k=) and the filters (f.COLUMN=VALUE, repeated), so
 * Back, Forward, reloads and shared links all restore it. Uploaded photos are shrunk in the
 * browser before they are sent. Likes and dislikes form the shopper's profile, kept in
 * localStorage; the "For you" section shows POST /api/recommend/profile's picks for it.
 *
 * Nothing is put on `window`: no inline handler or test calls into these modules.
 */
import { applyHash, navigate } from "./js/address.js";
import { loadCatalogInfo, wireCatalog } from "./js/catalog.js";
import { wireCrop } from "./js/crop-box.js";
import { $, els } from "./js/dom.js";
import { wireFilters } from "./js/filters.js";
import { onPopState, wireFiltersSheet } from "./js/filters-sheet.js";
import { wireGrid } from "./js/grid-focus.js";
import { wireUpload } from "./js/photos.js";
import { wireProfile } from "./js/profile.js";
import { shareSearch } from "./js/results.js";
import { state } from "./js/state.js";

function wire() {
  // The skip link moves focus without touching the address (which holds the search).
  document.querySelector(".skip-link").addEventListener("click", (e) => {
    e.preventDefault();
    const target = $("results-start");
    target.focus({ preventScroll: true });
    target.scrollIntoView({ block: "start" });
  });
  wireUpload();
  els.previewImage.addEventListener("error", () => {
    if (els.previewImage.getAttribute("src")) els.preview.hidden = true;
  });
  els.kSelect.addEventListener("change", () => {
    navigate({ k: Number.parseInt(els.kSelect.value, 10) }, { replace: true, focusResults: false });
  });
  wireFilters();
  wireFiltersSheet();
  wireCatalog();
  els.share.addEventListener("click", shareSearch);
  wireCrop();
  for (const list of [els.results, els.forYouResults, els.samples]) wireGrid(list);
  window.addEventListener("popstate", onPopState);
  window.addEventListener("hashchange", () => applyHash({ focusResults: true }));
  wireProfile();
}

wire();
loadCatalogInfo();
state.filtersKey = null; // the first applyHash loads facets, samples and "For you"
applyHash({ focusResults: false });
