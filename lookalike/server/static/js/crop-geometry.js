/* The crop box's arithmetic (no DOM): crops are fractions [x, y, w, h] of the photo, as the
 * API's crop= takes them; rounding, parsing, words, and moving or resizing one. */

import { CROP_MIN, WHOLE_PHOTO } from "./config.js";

export function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

/** A crop in whole thousandths that stays inside the photo (what the address carries). */
export function roundCrop([x, y, w, h]) {
  const left = clamp(Math.round(x * 1000), 0, 999);
  const top = clamp(Math.round(y * 1000), 0, 999);
  const width = clamp(Math.round(w * 1000), 1, 1000 - left);
  const height = clamp(Math.round(h * 1000), 1, 1000 - top);
  return [left / 1000, top / 1000, width / 1000, height / 1000];
}

export function cropText(crop) {
  return roundCrop(crop).join(",");
}

/** "x,y,w,h" from an address, or null when the API would refuse it. */
export function parseCrop(text) {
  if (!text) return null;
  const parts = text.split(",").map((part) => (part.trim() ? Number(part) : NaN));
  if (parts.length !== 4 || !parts.every(Number.isFinite)) return null;
  const [x, y, w, h] = parts;
  const inside = x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 1 + 1e-6 && y + h <= 1 + 1e-6;
  return inside ? roundCrop(parts) : null;
}

export function sameCrop(a, b) {
  return cropText(a) === cropText(b);
}

/** The box's position and size in words (its aria-valuetext). */
export function cropWords(crop) {
  if (sameCrop(crop, WHOLE_PHOTO)) return "Whole photo";
  const [x, y, w, h] = crop.map((v) => `${Math.round(v * 100)}%`);
  return `${w} wide, ${h} high, ${x} from the left, ${y} from the top`;
}

/** The crop moved by (dx, dy), or with the `edges` named dragged by it; inside the photo
 * and never smaller than CROP_MIN a side (a smaller one from an address may only grow). */
export function draggedCrop([x, y, w, h], edges, dx, dy) {
  if (!edges.left && !edges.right && !edges.top && !edges.bottom) {
    return [clamp(x + dx, 0, 1 - w), clamp(y + dy, 0, 1 - h), w, h];
  }
  let [left, top, right, bottom] = [x, y, x + w, y + h];
  if (edges.left) left = clamp(x + dx, 0, Math.max(right - CROP_MIN, x));
  if (edges.right) right = clamp(x + w + dx, Math.min(left + CROP_MIN, x + w), 1);
  if (edges.top) top = clamp(y + dy, 0, Math.max(bottom - CROP_MIN, y));
  if (edges.bottom) bottom = clamp(y + h + dy, Math.min(top + CROP_MIN, y + h), 1);
  return [left, top, right - left, bottom - top];
}

/** The crop dw wider and dh higher, its top-left corner kept unless the photo ends. */
export function resizedCrop([x, y, w, h], dw, dh) {
  const width = clamp(w + dw, Math.min(w, CROP_MIN), 1);
  const height = clamp(h + dh, Math.min(h, CROP_MIN), 1);
  return [Math.min(x, 1 - width), Math.min(y, 1 - height), width, height];
}
