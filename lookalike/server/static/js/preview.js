/* The query's preview in the photo panel: the shopper's photo (with the crop box's controls)
 * or the picked catalog item with its other photos. */

import { subtitle, title } from "./cards.js";
import { hideCrop } from "./crop-box.js";
import { els } from "./dom.js";
import { clearGarments } from "./look.js";
import { state } from "./state.js";

export function clearPreview() {
  hideCrop();
  clearGarments();
  state.previewKey = null;
  if (els.previewImage.src.startsWith("blob:")) URL.revokeObjectURL(els.previewImage.src);
  els.previewImage.removeAttribute("src");
  els.previewImage.alt = "";
  els.previewCaption.textContent = "";
  els.previewPhotos.replaceChildren();
  els.previewPhotos.hidden = true;
  els.preview.hidden = true;
}

export function showPhotoPreview(photo, key) {
  clearPreview();
  state.previewKey = key;
  // The crop controls come with the photo (no layout shift when the box appears).
  els.preview.classList.add("is-cropping");
  els.cropControls.hidden = false;
  els.cropReset.disabled = true;
  els.previewImage.src = URL.createObjectURL(photo.blob);
  els.previewImage.alt = "Your photo";
  els.previewCaption.textContent = photo.name ? `Your photo: ${photo.name}` : "Your photo";
  els.preview.hidden = false;
  els.resultsHeading.textContent = "Lookalikes of your photo";
}

export function showItemPreview(item) {
  clearPreview();
  els.previewImage.src = item.thumbnail_url;
  els.previewImage.alt = title(item);
  els.previewCaption.textContent = [title(item), subtitle(item)].filter(Boolean).join(" · ");
  // Every photo of a product with several, each a link to the full-size image.
  const photos = item.photos || [];
  els.previewPhotos.replaceChildren(
    ...photos.map((photo) => {
      const li = document.createElement("li");
      const link = document.createElement("a");
      link.href = photo.image_url;
      link.target = "_blank";
      link.rel = "noopener";
      const img = document.createElement("img");
      img.src = photo.thumbnail_url;
      img.alt = `Photo ${photo.number} of ${photos.length}`;
      img.width = 64;
      img.height = 64;
      link.append(img);
      li.append(link);
      return li;
    })
  );
  els.previewPhotos.hidden = photos.length < 2;
  els.preview.hidden = false;
  els.resultsHeading.textContent = `Lookalikes of ${title(item)}`;
}
