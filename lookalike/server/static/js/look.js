/* Shop the look: a new photo is asked with ?look=true and the server answers every garment it
 * finds (`garments`, each with its box and its own results; `main` the one shown first). The
 * garments are drawn over the photo as labelled boxes, each a toggle button: choosing one shows
 * its results from that answer (no new request) and moves the crop box onto it. Dragging the
 * crop box is a plain crop= query, which leaves every garment unchosen. */

import { navigate } from "./address.js";
import { els } from "./dom.js";
import { state } from "./state.js";

const KEEP = 8; // photos whose look answers are kept (Back, Forward, choosing again)

/** What an answer depends on besides the photo: k and the filters. */
function asked() {
  return `${state.k}|${state.filtersKey}`;
}

/** The garment shown: the address's garment= when the look has it, else the main one. */
function chosenIndex(look, garment) {
  const valid = Number.isInteger(garment) && garment >= 0 && garment < look.garments.length;
  return valid ? garment : look.main ?? 0;
}

function found(look) {
  return look ? look.garments.filter((g) => g.kind !== "photo") : [];
}

/** The answer to render for garment `index` of a look: its results and its box as the crop. */
function garmentView(look, index) {
  const garment = look.garments[index];
  const whole = garment.kind === "photo";
  markChosen(whole ? -1 : index);
  return {
    query: { ...look.query, crop: whole ? null : garment.box },
    results: garment.results,
    took_ms: look.took_ms,
    garment: whole ? null : garment.kind,
  };
}

/** Before a photo query is sent: the boxes of the photo's look (when known) are drawn; a query
 * without crop= that the kept look answers (same photo, k and filters) is answered from it,
 * so no request is needed; otherwise null. */
export function keptLook(query) {
  const look = state.looks.get(query.key);
  drawGarments(query.key, look);
  if (query.crop) {
    markChosen(-1); // a crop of the shopper's own: no garment is chosen
    return null;
  }
  return look && look.asked === asked() ? garmentView(look, chosenIndex(look, query.garment)) : null;
}

/** After a photo query's answer: a look answer is kept and its chosen garment's view returned;
 * a plain answer passes through. */
export function lookAnswer(query, data) {
  if (!Array.isArray(data.garments) || !data.garments.length) return data;
  const look = {
    asked: asked(),
    garments: data.garments,
    main: data.main,
    took_ms: data.took_ms,
    query: data.query,
  };
  state.looks.delete(query.key);
  state.looks.set(query.key, look);
  while (state.looks.size > KEEP) state.looks.delete(state.looks.keys().next().value);
  drawGarments(query.key, look);
  return garmentView(look, chosenIndex(look, query.garment));
}

/** Show garment `index` of the shown photo's look (a box was tapped, clicked or pressed). */
export function chooseGarment(index) {
  const query = state.query;
  if (!query || query.type !== "photo") return;
  const look = state.looks.get(query.key);
  if (!look || !look.garments[index]) return;
  if (!query.crop && chosenIndex(look, query.garment) === index) return; // already shown
  // A change the shopper was about to send loses to the garment.
  clearTimeout(state.cropTimer);
  state.cropTimer = 0;
  // The same history entry, as for the crop box; the main garment is left out of the address.
  const garment = index === look.main ? null : index;
  navigate({ query: { ...query, crop: null, garment } }, { replace: true, focusResults: false });
}

function garmentButton(garment, index) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "garment-box";
  button.dataset.garment = String(index);
  button.setAttribute("aria-pressed", "false");
  const [x, y, w, h] = garment.box;
  button.style.left = `${x * 100}%`;
  button.style.top = `${y * 100}%`;
  button.style.width = `${w * 100}%`;
  button.style.height = `${h * 100}%`;
  // The name is set whole: Chromium joins an absolutely placed label's parts with a space.
  button.setAttribute("aria-label", `${garment.kind}, show lookalikes`);
  const label = document.createElement("span");
  label.className = "garment-label";
  label.textContent = garment.kind;
  button.append(label);
  button.addEventListener("click", () => chooseGarment(index));
  return button;
}

/** The look's garments as boxes over photo `key` (kept when they are already drawn, so a
 * focused box keeps the focus). */
function drawGarments(key, look) {
  const garments = found(look);
  const drawn = garments.length ? `${key}|${JSON.stringify(garments.map((g) => [g.kind, g.box]))}` : "";
  if (drawn === state.garmentsDrawn) return;
  state.garmentsDrawn = drawn;
  const buttons = garments.length ? look.garments.map(garmentButton) : [];
  els.garments.replaceChildren(...buttons.filter((_, i) => look.garments[i].kind !== "photo"));
  els.garments.hidden = !garments.length;
  els.lookHint.hidden = !garments.length;
}

/** The chosen garment's box is pressed (-1: none). */
function markChosen(index) {
  for (const button of els.garments.children) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.garment) === index));
  }
}

/** Forget the drawn boxes (another photo, an item, an error). */
export function clearGarments() {
  state.garmentsDrawn = "";
  els.garments.replaceChildren();
  els.garments.hidden = true;
  els.lookHint.hidden = true;
}
