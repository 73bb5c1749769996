/* Words on the page: the status line, error boxes, the retailer's technical note, and small
 * text helpers (plurals, the filter summary, megabytes). */

import { els } from "./dom.js";
import { state } from "./state.js";

export function setStatus(text, loading = false) {
  els.status.textContent = text;
  els.status.classList.toggle("loading", loading);
}

/** Show (or with "" hide) an error box; bring it into view when it appears. */
export function showError(box, message) {
  box.textContent = message;
  box.hidden = !message;
  if (message && box.getClientRects().length) box.scrollIntoView({ block: "center" });
}

export function clearErrors() {
  for (const box of [els.photoError, els.error]) showError(box, "");
}

/** The last query's technical line, for retailers ("Details for retailers"). */
export function noteTechnical(text) {
  els.detailsQuery.textContent = text;
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** " (Blue, Shoes)" for the active filters, "" without any. */
export function filterSummary() {
  const values = Object.values(state.filters).flat();
  return values.length ? ` (${values.join(", ")})` : "";
}

export function megabytes(bytes) {
  return `${(bytes / 2 ** 20).toFixed(1).replace(/\.0$/, "")} MB`;
}
