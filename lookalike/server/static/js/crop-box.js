/* The crop box over an uploaded photo: the part the results match. Drawing it, dragging it
 * with a mouse or a finger, moving and resizing it with the keys, and searching again. */

import { navigate } from "./address.js";
import { CROP_DRAG_WAIT, CROP_KEY_WAIT, CROP_STEP, TAP_SLOP, WHOLE_PHOTO } from "./config.js";
import { cropWords, draggedCrop, resizedCrop, roundCrop, sameCrop } from "./crop-geometry.js";
import { els } from "./dom.js";
import { state } from "./state.js";

function drawCrop(crop) {
  state.cropShown = crop;
  const [x, y, w, h] = crop;
  const box = els.cropBox;
  // Percentages of the frame, which is exactly the photo: the box follows any resize.
  box.style.left = `${x * 100}%`;
  box.style.top = `${y * 100}%`;
  box.style.width = `${w * 100}%`;
  box.style.height = `${h * 100}%`;
  box.setAttribute("aria-valuenow", String(Math.round(w * h * 100)));
  box.setAttribute("aria-valuetext", cropWords(crop));
}

/** After a photo's results: the box shows the crop they answer (null: the whole photo). */
export function showCrop(crop) {
  state.cropAnswered = crop ? roundCrop(crop) : null;
  // A change the shopper is still making wins over an older answer.
  if (state.cropDrag || state.cropTimer) return;
  drawCrop(state.cropAnswered || WHOLE_PHOTO);
  els.cropBox.hidden = false;
  els.cropReset.disabled = sameCrop(state.cropShown, WHOLE_PHOTO);
}

export function hideCrop() {
  clearTimeout(state.cropTimer);
  state.cropTimer = 0;
  state.cropDrag = null;
  state.cropShown = null;
  state.cropAnswered = null;
  els.cropBox.hidden = true;
  els.cropControls.hidden = true;
  els.cropFrame.classList.remove("is-dragging");
  els.cropFrame.style.cursor = "";
  els.preview.classList.remove("is-cropping");
}

/** Search again with the box's crop, unless the results already answer it. */
function commitCrop() {
  clearTimeout(state.cropTimer);
  state.cropTimer = 0;
  const query = state.query;
  if (!query || query.type !== "photo" || !state.cropShown) return;
  const crop = roundCrop(state.cropShown);
  drawCrop(crop);
  els.cropReset.disabled = sameCrop(crop, WHOLE_PHOTO);
  const current = query.crop || state.cropAnswered || WHOLE_PHOTO;
  if (sameCrop(crop, current)) return;
  // The same history entry: Back goes to the previous search, not the previous box.
  navigate({ query: { ...query, crop, garment: null } }, { replace: true, focusResults: false });
}

function commitCropSoon(wait) {
  clearTimeout(state.cropTimer);
  state.cropTimer = setTimeout(commitCrop, wait);
}

/** Which edges a pointer at (clientX, clientY) would drag ({} = move the box), or null
 * when it is away from the box. Edges take a band of `grab` px, at most a third of the
 * box, so a small box can still be moved. */
function cropGrip(event) {
  const frame = els.cropFrame.getBoundingClientRect();
  const [x, y, w, h] = state.cropShown;
  const left = frame.left + x * frame.width;
  const right = left + w * frame.width;
  const top = frame.top + y * frame.height;
  const bottom = top + h * frame.height;
  const grab = event.pointerType === "mouse" ? 12 : 22; // fingers are less precise
  const px = event.clientX;
  const py = event.clientY;
  if (px < left - grab || px > right + grab || py < top - grab || py > bottom + grab) return null;
  const bandX = Math.min(grab, (right - left) / 3);
  const bandY = Math.min(grab, (bottom - top) / 3);
  return {
    left: px < left + bandX,
    right: px > right - bandX,
    top: py < top + bandY,
    bottom: py > bottom - bandY,
  };
}

function gripCursor(grip) {
  if (!grip) return "";
  const { left, right, top, bottom } = grip;
  if ((left && top) || (right && bottom)) return "nwse-resize";
  if ((right && top) || (left && bottom)) return "nesw-resize";
  if (left || right) return "ew-resize";
  if (top || bottom) return "ns-resize";
  return "move";
}

function onCropPointerDown(event) {
  if (els.cropBox.hidden || !state.cropShown || state.cropDrag || event.button !== 0) return;
  const grip = cropGrip(event);
  if (!grip) return;
  event.preventDefault(); // no text selection, image drag or scrolling
  clearTimeout(state.cropTimer);
  state.cropTimer = 0;
  const frame = els.cropFrame.getBoundingClientRect();
  state.cropDrag = {
    id: event.pointerId,
    grip,
    // A garment's box under the pointer (shop the look): a tap on it chooses that garment.
    garment: event.target.closest ? event.target.closest("[data-garment]") : null,
    moved: false,
    start: state.cropShown,
    x: event.clientX,
    y: event.clientY,
    width: frame.width,
    height: frame.height,
  };
  els.cropFrame.setPointerCapture(event.pointerId);
  els.cropFrame.classList.add("is-dragging");
  els.cropFrame.style.cursor = gripCursor(grip);
  // The keys go on from here; no focus ring for a pointer (browsers without the option
  // show one, which does no harm).
  els.cropBox.focus({ preventScroll: true, focusVisible: false });
}

function onCropPointerMove(event) {
  const drag = state.cropDrag;
  if (!drag) {
    if (event.pointerType === "mouse" && state.cropShown && !els.cropBox.hidden) {
      els.cropFrame.style.cursor = gripCursor(cropGrip(event));
    }
    return;
  }
  if (event.pointerId !== drag.id) return;
  const far = Math.abs(event.clientX - drag.x) + Math.abs(event.clientY - drag.y) > TAP_SLOP;
  drag.moved = drag.moved || far;
  if (drag.garment && !drag.moved) return; // maybe a tap on a garment's box: not yet a drag
  const dx = (event.clientX - drag.x) / drag.width;
  const dy = (event.clientY - drag.y) / drag.height;
  drawCrop(draggedCrop(drag.start, drag.grip, dx, dy));
}

function onCropPointerEnd(event) {
  const drag = state.cropDrag;
  if (!drag || event.pointerId !== drag.id) return;
  state.cropDrag = null;
  els.cropFrame.classList.remove("is-dragging");
  if (drag.garment && !drag.moved && event.type === "pointerup") {
    // A tap on a garment's box over the crop box (the capture keeps its click from it).
    els.cropFrame.style.cursor = "";
    drag.garment.focus({ preventScroll: true, focusVisible: false });
    drag.garment.click();
    return;
  }
  commitCropSoon(CROP_DRAG_WAIT);
}

/** Arrow keys move the box, Shift+arrow keys resize it (results follow the last key's
 * release); Escape cancels a drag. */
function onCropKeyDown(event) {
  const drag = state.cropDrag;
  if (event.key === "Escape" && drag) {
    // Escape during a drag puts the box back where the drag began.
    state.cropDrag = null;
    els.cropFrame.classList.remove("is-dragging");
    if (els.cropFrame.hasPointerCapture(drag.id)) els.cropFrame.releasePointerCapture(drag.id);
    drawCrop(drag.start);
    return;
  }
  const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  if (!(event.key in steps) || event.altKey || event.ctrlKey || event.metaKey) return;
  if (!state.cropShown || state.cropDrag) return;
  event.preventDefault(); // no page scrolling
  clearTimeout(state.cropTimer);
  state.cropTimer = 0;
  const [dx, dy] = steps[event.key].map((v) => v * CROP_STEP);
  drawCrop(
    event.shiftKey
      ? resizedCrop(state.cropShown, dx, dy)
      : draggedCrop(state.cropShown, {}, dx, dy)
  );
}

function onCropKeyUp(event) {
  if (event.key.startsWith("Arrow") && !state.cropDrag) commitCropSoon(CROP_KEY_WAIT);
}

function resetCrop() {
  if (!state.cropShown) return;
  els.cropBox.focus(); // the button is disabled next: keep the keyboard here
  drawCrop(WHOLE_PHOTO);
  commitCrop();
}

export function wireCrop() {
  els.cropFrame.addEventListener("pointerdown", onCropPointerDown);
  els.cropFrame.addEventListener("pointermove", onCropPointerMove);
  els.cropFrame.addEventListener("pointerup", onCropPointerEnd);
  els.cropFrame.addEventListener("pointercancel", onCropPointerEnd);
  els.cropFrame.addEventListener("lostpointercapture", onCropPointerEnd);
  els.cropFrame.addEventListener("pointerleave", () => {
    if (!state.cropDrag) els.cropFrame.style.cursor = "";
  });
  els.cropBox.addEventListener("keydown", onCropKeyDown);
  els.cropBox.addEventListener("keyup", onCropKeyUp);
  els.cropReset.addEventListener("click", resetCrop);
}
