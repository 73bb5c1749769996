/* The address is the state: #item=ID | #photo=DATA (+ crop= or garment=) | #view=for-you, k=
 * and f.COLUMN= filters. Reading it, writing it, and showing what it says. */

import { K_CHOICES } from "./config.js";
import { cropText, parseCrop } from "./crop-geometry.js";
import { els } from "./dom.js";
import { loadFacets, renderActiveFilters, renderFacets } from "./filters.js";
import { loadSamples } from "./catalog.js";
import { refreshForYou, renderProfile } from "./profile.js";
import { showQuery } from "./results.js";
import { state } from "./state.js";

/** The address part ("#..." or "") for a state; the current one by default. */
export function hashFor({ query = state.query, k = state.k, filters = state.filters } = {}) {
  const params = new URLSearchParams();
  if (query && query.type === "item") params.set("item", query.id);
  if (query && query.type === "photo") params.set("photo", query.key);
  if (query && query.type === "photo" && query.crop) params.set("crop", cropText(query.crop));
  else if (query && query.type === "photo" && Number.isInteger(query.garment)) {
    params.set("garment", String(query.garment));
  }
  if (query && query.type === "for-you") params.set("view", "for-you");
  if (k !== 10) params.set("k", String(k));
  for (const [column, values] of Object.entries(filters)) {
    for (const value of values) params.append(`f.${column}`, value);
  }
  const text = params.toString();
  return text ? `#${text}` : "";
}

/** What an address shows. Never throws: a garbled address is shown as an error. */
function parseHash(hash) {
  // URLSearchParams decodes percent escapes leniently (bad bytes become U+FFFD).
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const filters = {};
  for (const [key, value] of params) {
    if (key.startsWith("f.") && key.length > 2 && value) {
      const column = key.slice(2);
      (filters[column] = filters[column] || []).push(value);
    }
  }
  const k = Number.parseInt(params.get("k"), 10);
  let query = null;
  if (params.get("item")) query = { type: "item", id: params.get("item") };
  else if (params.get("photo")) {
    const crop = parseCrop(params.get("crop"));
    // garment=N: which garment of the look (shop the look) is shown; a crop overrides it.
    const garment = /^\d$/.test(params.get("garment") || "") ? Number(params.get("garment")) : null;
    query = { type: "photo", key: params.get("photo"), crop, garment: crop ? null : garment };
  }
  else if (params.get("view") === "for-you") query = { type: "for-you" };
  return { query, k: K_CHOICES.includes(k) ? k : 10, filters };
}

/** Go to a new state: a new history entry (or the same one with `replace`). */
export function navigate(changes, { replace = false, focusResults = true } = {}) {
  const next = { query: state.query, k: state.k, filters: state.filters, ...changes };
  const url = location.pathname + location.search + hashFor(next);
  if (replace) history.replaceState(history.state, "", url); // (keeps the sheet's mark)
  else history.pushState(null, "", url);
  applyHash({ focusResults });
}

/** Show what the address says (on load, Back, Forward and every navigation). */
export function applyHash({ focusResults = false } = {}) {
  const hash = location.hash;
  if (hash === state.appliedHash) return;
  if (/^#[\w-]+$/.test(hash) && document.getElementById(hash.slice(1))) {
    // An in-page anchor (e.g. typed by hand), not a state: keep showing what was shown.
    history.replaceState(history.state, "", location.pathname + location.search + hashFor());
    state.appliedHash = location.hash;
    return;
  }
  state.appliedHash = hash;
  const next = parseHash(hash);
  state.k = next.k;
  els.kSelect.value = String(next.k);
  state.filters = next.filters;
  const filtersKey = JSON.stringify(next.filters);
  const filtersChanged = filtersKey !== state.filtersKey;
  state.filtersKey = filtersKey;
  state.query = next.query;
  renderActiveFilters();
  if (filtersChanged) {
    renderFacets();
    loadFacets();
    loadSamples();
    refreshForYou();
  }
  renderProfile();
  showQuery({ focusResults });
}
