/* The lookalikes: run the address's query (a photo or a catalog item) and show its results,
 * the honest note above them, and the Share button. */

import { navigate } from "./address.js";
import { api, humanError, queryString } from "./api.js";
import { renderGrid } from "./cards.js";
import { showCrop } from "./crop-box.js";
import { cropText } from "./crop-geometry.js";
import { els } from "./dom.js";
import { clearErrors, filterSummary, noteTechnical, plural, setStatus, showError } from "./messages.js";
import { keptLook, lookAnswer } from "./look.js";
import { dataToBlob } from "./photos.js";
import { clearPreview, showItemPreview, showPhotoPreview } from "./preview.js";
import { state } from "./state.js";

export function clearResults() {
  if (state.controller) state.controller.abort();
  state.controller = null;
  els.results.replaceChildren();
  els.resultsSection.hidden = true;
  els.resultsNote.hidden = true;
  setStatus("");
}

/** Show the state's query: a photo's or an item's lookalikes, "For you", or nothing. */
export function showQuery({ focusResults }) {
  const query = state.query;
  els.forYou.classList.toggle("is-view", !!(query && query.type === "for-you"));
  if (!query || query.type === "for-you") {
    clearErrors();
    clearResults();
    clearPreview();
    if (query) {
      els.forYou.hidden = false;
      if (focusResults) els.forYouHeading.focus();
    }
    return;
  }
  if (query.type === "photo") {
    let photo = state.photos.get(query.key);
    if (!photo) {
      const blob = dataToBlob(query.key);
      if (!blob) {
        clearResults();
        clearPreview();
        showError(els.photoError, "This link's photo is damaged. Choose the photo again.");
        return;
      }
      photo = { blob, name: "" };
      state.photos.set(query.key, photo);
    }
    // Only the crop changed: keep the photo and its crop box where they are.
    if (state.previewKey !== query.key) showPhotoPreview(photo, query.key);
  }
  runQuery({ focusResults });
}

/** Run the current query (photo or item) with the current k and filters. */
async function runQuery({ focusResults = false } = {}) {
  const query = state.query;
  if (!query || query.type === "for-you") return;
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;

  clearErrors();
  setStatus("Finding lookalikes…", true);
  els.resultsSection.hidden = false;
  els.resultsNote.hidden = true;
  els.results.setAttribute("aria-busy", "true");
  els.results.classList.add("is-loading");
  const params = { k: state.k };
  let photo = null;
  try {
    let data;
    if (query.type === "photo") {
      photo = state.photos.get(query.key);
      // A garment of the look already answered is shown from that answer, without a request.
      data = keptLook(query);
      if (!data) {
        // The shopper's crop, else shop the look: every garment found, each answered.
        await state.healthLoaded; // does the server want the look? (serve --no-look)
        if (query.crop) params.crop = cropText(query.crop);
        else if (!state.health || state.health.look !== false) params.look = "true";
        const form = new FormData();
        form.append("image", photo.blob, photo.name || "photo.jpg");
        data = await api(`api/recommend?${queryString(params)}`, {
          method: "POST",
          body: form,
          signal: controller.signal,
        });
        if (state.controller !== controller) return;
        data = lookAnswer(query, data);
      }
    } else {
      const id = encodeURIComponent(query.id);
      data = await api(`api/items/${id}/similar?${queryString(params)}`, {
        signal: controller.signal,
      });
      showItemPreview(data.query.item);
    }
    if (state.controller !== controller) return;
    if (query.type === "photo") showCrop(data.query.crop);
    renderGrid(els.results, data.results, "li");
    renderResultsNote(data.results);
    const n = data.results.length;
    const of = data.garment ? ` of the ${data.garment}` : "";
    setStatus(n ? `${plural(n, "lookalike")}${of}${filterSummary()}.` : "");
    const garment = data.garment ? `; garment ${data.garment}` : "";
    const region = `${garment}${data.query.crop ? `; crop ${cropText(data.query.crop)}` : ""}`;
    noteTechnical(
      `Last query: ${n} results in ${Math.round(data.took_ms)} ms; ` +
        `nearest distance ${n ? nearestDistance(data.results).toFixed(3) : "-"}${region}.`
    );
    if (focusResults) focusResultsHeading();
  } catch (err) {
    if (err.name === "AbortError" || state.controller !== controller) return;
    clearResults();
    if (query.type === "photo") {
      clearPreview();
      const subject = photo && photo.name ? `“${photo.name}”` : "This photo";
      showError(els.photoError, humanError(err, subject));
    } else {
      clearPreview();
      showError(els.error, humanError(err, "This item"));
    }
  } finally {
    if (state.controller === controller) {
      state.controller = null;
      els.results.setAttribute("aria-busy", "false");
      els.results.classList.remove("is-loading");
    }
  }
}

/** The smallest distance in a list (a photo's list is ranked by its expanded query). */
function nearestDistance(results) {
  return Math.min(...results.map((r) => r.distance));
}

/** An honest word above the results: none match, or none is really close. */
function renderResultsNote(results) {
  let text = "";
  if (!results.length) {
    text = Object.keys(state.filters).length
      ? "No catalog items match these filters. Remove a filter to see more."
      : "The catalog has no other items yet.";
  } else if (results.every((r) => r.match === "distant")) {
    // (A photo's list is ranked by its expanded query: the nearest need not come first.)
    text =
      "Nothing in the catalog looks very close to this. These are the nearest items we have.";
  }
  els.resultsNote.textContent = text;
  els.resultsNote.hidden = !text;
}

/** Focus the results heading for screen readers without hiding the photo on phones. */
function focusResultsHeading() {
  els.resultsHeading.focus({ preventScroll: true });
  const box = els.resultsHeading.getBoundingClientRect();
  if (box.top < 0 || box.bottom > window.innerHeight) {
    const anchor = els.preview.hidden ? els.resultsSection : els.preview;
    anchor.scrollIntoView({ block: "start" });
  }
}

/** Show the lookalikes of a catalog item (a new history entry). */
export function selectItem(id) {
  const current = state.query;
  if (current && current.type === "item" && current.id === id) {
    runQuery({ focusResults: true });
    return;
  }
  navigate({ query: { type: "item", id } });
}

/** Share the address (the phone's share sheet, else the clipboard). */
export async function shareSearch() {
  const url = location.href;
  try {
    if (navigator.share && window.matchMedia("(pointer: coarse)").matches) {
      await navigator.share({ title: document.title, url });
      return;
    }
    await navigator.clipboard.writeText(url);
    setStatus("Link copied. Anyone with the link sees this search, including your photo.");
  } catch (err) {
    if (err && err.name === "AbortError") return;
    setStatus("Copy the address from the address bar to share this search.");
  }
}
