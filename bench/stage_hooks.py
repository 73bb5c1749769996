"""Run the ``lookalike`` command line with the build's stages logged: when each starts and
ends, with the process's peak RSS since the previous event (``bench/build_scale.py`` runs
its builds through this).

    BUILD_STAGE_LOG=stages.jsonl .venv/bin/python bench/stage_hooks.py build CATALOG --out B

Each line of the log is JSON: ``t`` (epoch seconds), ``event`` (``start``, ``end`` or
``missing``: a hooked function no longer exists), ``stage``, ``peak_kb`` (``VmHWM``, then
reset through ``/proc/self/clear_refs`` so the next event reports the peak since this one;
``reset`` says whether that worked). The stages: ``run`` (the whole command), ``decode``
(the fit sample), ``archive``, ``fit`` (the encoder's), ``views``, ``tuning``, ``export``
(the int8 backbone and its calibration) and ``head`` (the final head's training) inside the
hybrid's fit, ``encode``, ``index``.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any

#: (module, attribute, stage): the functions timed. ``Class.method`` reaches into a class.
HOOKS = [
    ("lookalike.pipeline.build", "decode_items", "decode"),
    ("lookalike.pipeline.build", "load_archive", "archive"),
    ("lookalike.encoders.hybrid.encoder", "HybridEncoder._cached_views", "views"),
    ("lookalike.encoders.hybrid.encoder", "tune_fusion_weights", "tuning"),
    ("lookalike.encoders.hybrid.encoder", "make_backbone_runner", "export"),
    ("lookalike.encoders.hybrid.encoder", "train_head", "head"),
    ("lookalike.pipeline.build", "stream_encode_catalog", "encode"),
    ("lookalike.pipeline.build", "ray_encode_catalog", "encode"),
    ("lookalike.pipeline.build", "build_index", "index"),
]
LOG = open(os.environ.get("BUILD_STAGE_LOG", os.devnull), "a", buffering=1)  # noqa: SIM115


def peak_kb() -> tuple[int, bool]:
    """This process's peak RSS (kB) since the last reset, and whether it could be reset."""
    with open("/proc/self/status") as status:
        kb = int(re.search(r"VmHWM:\s+(\d+)", status.read()).group(1))
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return kb, False
    return kb, True


def mark(event: str, stage: str) -> None:
    """Log one event."""
    kb, reset = peak_kb()
    line = {"t": time.time(), "event": event, "stage": stage, "peak_kb": kb, "reset": reset}
    LOG.write(json.dumps(line) + "\n")


def timed(fn: Callable[..., Any], stage: str) -> Callable[..., Any]:
    """``fn`` logging its start and end as ``stage``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        mark("start", stage)
        try:
            return fn(*args, **kwargs)
        finally:
            mark("end", stage)

    return wrapper


def hook(module: str, attr: str, stage: str) -> None:
    """Replace ``module.attr`` by its timed version (a ``missing`` event when it is gone)."""
    try:
        owner: Any = importlib.import_module(module)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        raw = vars(owner)[name]
    except (ImportError, AttributeError, KeyError):
        mark("missing", f"{stage}: {module}.{attr}")
        return
    if isinstance(raw, classmethod):
        setattr(owner, name, classmethod(timed(raw.__func__, stage)))
    else:
        setattr(owner, name, timed(raw, stage))


def main(argv: list[str]) -> int:
    """Install the hooks, run ``lookalike ARGV``."""
    mark("start", "run")
    for module, attr, stage in HOOKS:
        hook(module, attr, stage)
    from lookalike.encoders.registry import ENCODERS

    for cls in set(ENCODERS.values()):
        hook(cls.__module__, f"{cls.__name__}.fit", "fit")
    from lookalike.cli import main as lookalike

    code = lookalike(argv)
    mark("end", "run")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
