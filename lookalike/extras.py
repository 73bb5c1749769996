"""Optional dependencies (``pip install 'lookalike[ray]'``, ``'lookalike[milvus]'``).

The core install never needs them; a feature that does asks :func:`require`, which imports the
module or raises :class:`MissingExtraError` with the one line a user needs to read.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRAS", "MissingExtraError", "require"]

#: Extra name -> what it enables (used in the error message).
EXTRAS = {
    "ray": "the Ray engine (--engine ray) and manifest catalogs in Parquet or on object storage",
    "milvus": "the Milvus index (--index milvus)",
}


class MissingExtraError(ValueError):
    """An optional dependency is not installed; the message says what to install."""


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise MissingExtraError naming ``pip install 'lookalike[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = EXTRAS.get(extra, extra)
        raise MissingExtraError(
            f"{what} needs the package {module.split('.')[0]!r}, which is not installed: "
            f"pip install 'lookalike[{extra}]'"
        ) from exc
