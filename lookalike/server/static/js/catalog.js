/* The catalog: the sample items to start from (with Shuffle), the item count in the footer,
 * and the retailer's details (encoder, bundle, upload limit). */

import { api, humanError, queryString } from "./api.js";
import { renderGrid } from "./cards.js";
import { SAMPLE_COUNT, UPLOAD_SIDE } from "./config.js";
import { els } from "./dom.js";
import { megabytes, showError } from "./messages.js";
import { state } from "./state.js";

export async function loadSamples() {
  els.samples.setAttribute("aria-busy", "true");
  try {
    const qs = queryString({ random: state.seed, limit: SAMPLE_COUNT });
    const seq = ++state.samplesSeq;
    const data = await api(`api/items?${qs}`);
    if (seq !== state.samplesSeq) return; // superseded by a newer request
    renderGrid(els.samples, data.items, "li");
    els.samplesNote.hidden = data.items.length > 0;
    els.samplesNote.textContent = data.items.length
      ? ""
      : "No catalog items match these filters. Remove a filter to see more.";
  } catch (err) {
    showError(els.error, `We couldn't load catalog items. ${humanError(err, "")}`);
  } finally {
    els.samples.setAttribute("aria-busy", "false");
  }
}

/** Load /healthz into the state; the first photo query waits for it (state.healthLoaded). */
export function loadCatalogInfo() {
  state.healthLoaded = readCatalogInfo();
  return state.healthLoaded;
}

async function readCatalogInfo() {
  try {
    const info = await api("healthz");
    state.health = info;
    state.maxUploadBytes = info.max_upload_bytes || null;
    els.catalogInfo.textContent = `${info.items.toLocaleString()} catalog items`;
    els.detailsCatalog.textContent =
      `Encoder ${info.encoder} · bundle ${info.bundle_version} · uploads up to ` +
      `${megabytes(info.max_upload_bytes)} (photos are shrunk to ${UPLOAD_SIDE} px first).`;
  } catch (_) {
    els.catalogInfo.textContent = "";
  }
}

function toggleDetails() {
  const on = els.details.hidden;
  els.details.hidden = !on;
  document.body.classList.toggle("show-details", on);
  els.detailsToggle.setAttribute("aria-pressed", String(on));
}

/** Shuffle (new samples) and "Details for retailers". */
export function wireCatalog() {
  els.shuffle.addEventListener("click", () => {
    state.seed = Math.floor(Math.random() * 1e9);
    loadSamples();
  });
  els.detailsToggle.addEventListener("click", toggleDetails);
}
