/* The shopper's photos: choose, take, drop or paste one; shrink it in the browser before it is
 * sent; keep a small copy for the address (#photo=) so the search can be shared. */

import { navigate } from "./address.js";
import { SHARE_SIDE, UPLOAD_SIDE } from "./config.js";
import { els } from "./dom.js";
import { clearErrors, megabytes, setStatus, showError } from "./messages.js";
import { clearPreview } from "./preview.js";
import { clearResults } from "./results.js";
import { state } from "./state.js";

async function decodePhoto(file) {
  try {
    return await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (_) {
    return null; // not an image this browser can read (the server may still say why)
  }
}

/** The photo as a JPEG from the server, for formats this browser cannot decode (an iPhone's
 * HEIC in Chrome); null when the server cannot read it either, or cannot be reached. */
async function serverPreview(file) {
  if (state.maxUploadBytes && file.size > state.maxUploadBytes) return null;
  const form = new FormData();
  form.append("image", file, file.name || "photo");
  try {
    const response = await fetch("api/preview", { method: "POST", body: form });
    return response.ok ? await response.blob() : null;
  } catch (_) {
    return null;
  }
}

function drawScaled(bitmap, side) {
  const scale = Math.min(1, side / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff"; // transparent pixels become white, as on catalog photos
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return canvas;
}

function canvasBlob(canvas, quality) {
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
}

/** The photo to upload: a JPEG of at most UPLOAD_SIDE px that fits the server's limit. */
async function shrinkForUpload(file, bitmap) {
  const limit = state.maxUploadBytes || Infinity;
  const small = Math.max(bitmap.width, bitmap.height) <= UPLOAD_SIDE;
  if (small && file.size <= Math.min(limit, 2 ** 21) && /^image\/(jpeg|png|webp)$/.test(file.type)) {
    return file; // already small: send it as it is
  }
  for (const [side, quality] of [
    [UPLOAD_SIDE, 0.88],
    [UPLOAD_SIDE, 0.75],
    [1200, 0.75],
    [800, 0.7],
  ]) {
    const blob = await canvasBlob(drawScaled(bitmap, side), quality);
    if (blob && blob.size <= limit) return blob;
  }
  return null;
}

/** A small JPEG of the photo as base64url, carried in the address so the search can be shared. */
function shareCopy(bitmap) {
  const data = drawScaled(bitmap, SHARE_SIDE).toDataURL("image/jpeg", 0.8);
  return data.replace(/^data:image\/jpeg;base64,/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

/** The JPEG an address's #photo= carries, or null when it is not one. */
export function dataToBlob(key) {
  try {
    const bytes = atob(key.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, ""));
    const array = new Uint8Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) array[i] = bytes.charCodeAt(i);
    if (array.length < 4 || array[0] !== 0xff || array[1] !== 0xd8) return null; // not a JPEG
    return new Blob([array], { type: "image/jpeg" });
  } catch (_) {
    return null;
  }
}

let localPhotos = 0;

async function useFile(file) {
  if (!file) return;
  clearErrors();
  const name = file.name || "";
  const subject = name ? `“${name}”` : "This photo";
  setStatus("Preparing your photo…", true);
  let bitmap = await decodePhoto(file);
  let source = file;
  if (!bitmap) {
    // Not a format this browser reads: the server turns it into a JPEG the page can show.
    const jpeg = await serverPreview(file);
    if (jpeg) {
      source = jpeg;
      bitmap = await decodePhoto(jpeg);
    }
  }
  let blob = source;
  let key;
  if (bitmap) {
    blob = await shrinkForUpload(source, bitmap);
    key = shareCopy(bitmap);
    bitmap.close();
  } else {
    // The browser cannot read it: let the server judge, under a key for this visit only.
    localPhotos += 1;
    key = `local-${localPhotos}`;
  }
  if (!blob || (!bitmap && state.maxUploadBytes && file.size > state.maxUploadBytes)) {
    setStatus("");
    clearResults();
    clearPreview();
    const limit = state.maxUploadBytes ? megabytes(state.maxUploadBytes) : "the limit";
    showError(
      els.photoError,
      `${subject} is too large (${megabytes(file.size)}) and this browser can't shrink it. ` +
        `Try a JPEG or PNG photo under ${limit}.`
    );
    return;
  }
  state.photos.set(key, { blob, name });
  navigate({ query: { type: "photo", key } });
}

/** The photo buttons and inputs, drag and drop onto the drop zone, and paste. */
export function wireUpload() {
  els.uploadButton.addEventListener("click", () => els.fileInput.click());
  els.cameraButton.addEventListener("click", () => els.cameraInput.click());
  for (const input of [els.fileInput, els.cameraInput]) {
    input.addEventListener("change", () => {
      const file = input.files[0];
      input.value = ""; // choosing the same file again still fires "change"
      useFile(file);
    });
  }

  // Drag and drop onto the drop zone; elsewhere a dropped file must not navigate away.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (e) => e.preventDefault());
  }
  els.dropZone.addEventListener("dragenter", () => els.dropZone.classList.add("dragging"));
  els.dropZone.addEventListener("dragover", (e) => {
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    els.dropZone.classList.add("dragging");
  });
  els.dropZone.addEventListener("dragleave", (e) => {
    if (!els.dropZone.contains(e.relatedTarget)) els.dropZone.classList.remove("dragging");
  });
  els.dropZone.addEventListener("drop", (e) => {
    e.preventDefault();
    els.dropZone.classList.remove("dragging");
    const file = e.dataTransfer.files && e.dataTransfer.files[0];
    if (file) useFile(file);
  });
  document.addEventListener("paste", (e) => {
    const file = [...(e.clipboardData ? e.clipboardData.files : [])][0];
    if (file) useFile(file);
  });
}
