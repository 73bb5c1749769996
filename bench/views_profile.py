"""Where the hybrid fit's views stage spends its time, per photo: decoding, each training
augmentation, the colour histogram and the int8 backbone pass (the stage encodes 4 passes a
fit photo: clean, mirror, 2 augmented views; issue 27's first-run time).

    flock /tmp/cpu.lock .venv/bin/python bench/views_profile.py --photos 64 --repeats 3

Decodes the first N photos of a catalog folder at the hybrid's input size, then times each
step over them (median of ``--repeats``; the backbone on the default threads, the rest on
one). Prints milliseconds per photo and writes ``bench/results/views_profile.json``. Run it
with the machine quiet: the numbers are CPU time, and another process doubles them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_info, write_json  # noqa: E402

from lookalike.catalog import read_catalog  # noqa: E402
from lookalike.degrade import DEGRADATIONS, random_augment  # noqa: E402
from lookalike.encoders.hybrid.colour import colour_histogram  # noqa: E402
from lookalike.encoders.hybrid.config import HybridConfig  # noqa: E402
from lookalike.encoders.hybrid.encoder import HybridEncoder  # noqa: E402
from lookalike.imaging.lazy import LazyPhotos  # noqa: E402


def per_photo_ms(step, n: int, repeats: int) -> float:
    """Median over ``repeats`` of ``step()``'s wall time, in ms per photo of ``n``."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append((time.perf_counter() - started) * 1000 / n)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", default="../shared/fashion-images")
    parser.add_argument("--photos", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    config = HybridConfig()
    paths = [str(item.path) for item in read_catalog(args.catalog).items[: args.photos]]
    photos = LazyPhotos(paths, config.input_size, config.resize)
    rows = np.arange(len(paths))
    n = len(paths)
    images = photos.decode(rows).images
    rng = np.random.default_rng(0)
    result = {"photos": n, "input_size": config.input_size, "ms_per_photo": {}}
    ms = result["ms_per_photo"]
    ms["decode"] = per_photo_ms(lambda: photos.decode(rows), n, args.repeats)
    for name, fn in DEGRADATIONS.items():
        ms[f"augment:{name}"] = per_photo_ms(
            lambda fn=fn: [fn(np.ascontiguousarray(im), rng) for im in images], n, args.repeats
        )
    ms["augmented view (random_augment)"] = per_photo_ms(
        lambda: [random_augment(im, rng) for im in images], n, args.repeats
    )
    ms["colour histogram"] = per_photo_ms(
        lambda: colour_histogram(
            images, config.colour_bins, centre_sigma=config.colour_centre_sigma
        ),
        n,
        args.repeats,
    )
    with tempfile.TemporaryDirectory() as work:
        encoder = HybridEncoder(config, None, Path(work), "pending", True, photos)
        encoder.backbone(images[:8])  # session start-up out of the timing
        ms["backbone pass"] = per_photo_ms(
            lambda: [encoder.backbone(images[s : s + 32]) for s in range(0, n, 32)], n, args.repeats
        )
        threads = int(getattr(encoder.backbone, "threads", 1) or 1)
    result["backbone_threads"] = threads
    views = 2 + config.views
    ms["views stage, CPU per fit photo"] = (
        ms["decode"]
        + config.views * ms["augmented view (random_augment)"]
        + views * ms["colour histogram"]
        + views * ms["backbone pass"] * threads  # the backbone's ms are wall time
    )
    for name, value in ms.items():
        print(f"{name:40s} {value:7.2f} ms")
    result["machine"] = machine_info()
    print(f"written to {write_json(result, 'views_profile', args.out)}")


if __name__ == "__main__":
    main()
