"""The paper's Table 1: the CAE trained at 30/50/100 epochs x lr 0.01/0.001, beside its figures.

    .venv/bin/python bench/paper_table.py                        # the whole grid (GPU: minutes)
    .venv/bin/python bench/paper_table.py --limit 64 --epochs-scale 0.02 --input-size 64
                                                                  # a CPU smoke run (seconds)

Trains ``lookalike.encoders.cae.train_cae`` (the landed CAE, its own split and accuracy
definition) once per setting on the reference catalog, with ``--device auto`` (CUDA when
PyTorch sees one). Prints train/validation loss and accuracy of the best-validation epoch
beside the paper's numbers and writes bench/results/paper_table.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_CATALOG, format_table, machine_info, write_json  # noqa: E402

from lookalike.catalog import read_catalog  # noqa: E402
from lookalike.encoders.cae import CAEConfig, train_cae  # noqa: E402
from lookalike.encoders.device import resolve_device  # noqa: E402
from lookalike.imaging import load_images  # noqa: E402

#: Table 1 of the paper: (epochs, lr) -> (train loss, val loss, train acc %, val acc %).
PAPER = {
    (30, 0.01): (0.254, 0.153, 70.91, 87.67),
    (30, 0.001): (0.0112, 0.0121, 88.40, 91.90),
    (50, 0.01): (0.0998, 0.0507, 66.84, 73.78),
    (50, 0.001): (0.0794, 0.0288, 85.63, 81.45),
    (100, 0.01): (0.0101, 0.013, 62.56, 63.73),
    (100, 0.001): (0.0164, 0.0152, 87.45, 83.94),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--limit", type=int, help="first N catalog images only")
    parser.add_argument(
        "--epochs-scale", type=float, default=1.0, help="multiply every epoch count (>= 1 epoch)"
    )
    parser.add_argument("--input-size", type=int, help="CAE input side (default: the CAE's)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    args = parser.parse_args()

    device = resolve_device(args.device)
    base = CAEConfig(patience=0)
    if args.input_size:
        base = dataclasses.replace(base, input_size=args.input_size)
    items = read_catalog(args.catalog).items
    paths = [item.path for item in items[: args.limit] if args.limit] or [i.path for i in items]
    images = load_images(paths, base.input_size, workers=2).images
    print(f"{len(images)} images at {base.input_size}px on {device}")
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="lookalike-paper-") as work:
        for (epochs, lr), paper in PAPER.items():
            run_epochs = max(1, round(epochs * args.epochs_scale))
            config = dataclasses.replace(base, epochs=run_epochs, lr=lr)
            started = time.perf_counter()
            _, history = train_cae(
                images, config, Path(work) / f"{epochs}-{lr}", progress=False, device=device
            )
            seconds = time.perf_counter() - started
            best = min(history, key=lambda r: r["val_loss"])
            result = {
                "epochs": epochs,
                "lr": lr,
                "epochs_run": run_epochs,
                "train_loss": best["train_loss"],
                "val_loss": best["val_loss"],
                "train_accuracy": round(100 * best["train_accuracy"], 2),
                "val_accuracy": round(100 * best["val_accuracy"], 2),
                "seconds": round(seconds, 1),
                "paper": dict(
                    zip(("train_loss", "val_loss", "train_acc", "val_acc"), paper, strict=True)
                ),
            }
            results.append(result)
            rows.append(
                [epochs, str(lr), run_epochs, f"{result['train_loss']:.4f}", str(paper[0]),
                 f"{result['val_loss']:.4f}", str(paper[1]), result["train_accuracy"], paper[2],
                 result["val_accuracy"], paper[3], result["seconds"]]
            )  # fmt: skip
    print(
        format_table(
            ["epochs", "lr", "run", "train loss", "paper", "val loss", "paper", "train acc %",
             "paper", "val acc %", "paper", "s"],
            rows,
        )
    )  # fmt: skip
    run = {"images": len(images), "input_size": base.input_size, "device": device}
    path = write_json(
        {"machine": machine_info(), "run": {**run, "epochs_scale": args.epochs_scale},
         "rows": results},
        "paper_table",
    )  # fmt: skip
    print(f"written {path}")


if __name__ == "__main__":
    main()
