"""Realistic query degradations, as pure functions of (uint8 image, numpy Generator).

Used twice: by the evaluation (degraded copies of catalog items must still find the item)
and by the hybrid encoder's training augmentations (so it learns to ignore them).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageEnhance

Degradation = Callable[[np.ndarray, np.random.Generator], np.ndarray]
WHITE_THRESHOLD = 235


def _to_pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(np.asarray(image, dtype=np.uint8))


def random_crop(image: np.ndarray, rng: np.random.Generator, area: float = 0.8) -> np.ndarray:
    """Crop ``area`` of the image at a random position, resized back to the input size."""
    h, w = image.shape[:2]
    side = np.sqrt(area)
    ch, cw = max(1, int(h * side)), max(1, int(w * side))
    top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    crop = _to_pil(image[top : top + ch, left : left + cw])
    return np.asarray(crop.resize((w, h), Image.Resampling.BILINEAR))


def random_rotation(image: np.ndarray, rng: np.random.Generator, degrees: float = 10) -> np.ndarray:
    """Rotate by a random angle in [-degrees, degrees], filling the corners with white."""
    angle = float(rng.uniform(-degrees, degrees))
    rotated = _to_pil(image).rotate(angle, Image.Resampling.BILINEAR, fillcolor=(255, 255, 255))
    return np.asarray(rotated)


def random_lighting(
    image: np.ndarray, rng: np.random.Generator, strength: float = 0.3
) -> np.ndarray:
    """Random brightness and contrast change by a factor in [1 - strength, 1 + strength]."""
    pil = _to_pil(image)
    pil = ImageEnhance.Brightness(pil).enhance(float(rng.uniform(1 - strength, 1 + strength)))
    pil = ImageEnhance.Contrast(pil).enhance(float(rng.uniform(1 - strength, 1 + strength)))
    return np.asarray(pil)


def jpeg_quality(image: np.ndarray, rng: np.random.Generator, quality: int = 30) -> np.ndarray:
    """Re-encode as a low-quality JPEG (``rng`` unused; kept for a uniform signature)."""
    buffer = io.BytesIO()
    _to_pil(image).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def clutter_background(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replace the near-white studio background with a random cluttered scene (coloured
    rectangles over a noisy gradient), as in a shopper's photo of a product on a bed or floor."""
    h, w = image.shape[:2]
    base = rng.uniform(60, 200, size=3)
    ramp = np.linspace(-40, 40, w)[None, :, None]
    scene = base + ramp + rng.normal(0, 12, size=(h, w, 3))
    for _ in range(int(rng.integers(4, 10))):
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        y1, x1 = (
            min(h, y0 + int(rng.integers(h // 8, h // 2))),
            min(w, x0 + int(rng.integers(w // 8, w // 2))),
        )
        scene[y0:y1, x0:x1] = rng.uniform(0, 255, size=3)
    scene = np.clip(scene, 0, 255).astype(np.uint8)
    background = (image >= WHITE_THRESHOLD).all(axis=2, keepdims=True)
    return np.where(background, scene, image)


DEGRADATIONS: dict[str, Degradation] = {
    "crop80": random_crop,
    "rotate10": random_rotation,
    "lighting": random_lighting,
    "jpeg30": jpeg_quality,
    "clutter": clutter_background,
}


def degrade_batch(images: np.ndarray, name: str, seed: int = 0) -> np.ndarray:
    """Apply degradation ``name`` to every image with a seeded generator; uint8 out."""
    rng = np.random.default_rng(seed)
    fn = DEGRADATIONS[name]
    return np.stack([fn(image, rng) for image in images]) if len(images) else images.copy()


def random_augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A training augmentation: flip, then each degradation with probability 0.35."""
    if rng.random() < 0.5:
        image = image[:, ::-1]
    for fn in DEGRADATIONS.values():
        if rng.random() < 0.35:
            image = fn(np.ascontiguousarray(image), rng)
    return np.ascontiguousarray(image)
