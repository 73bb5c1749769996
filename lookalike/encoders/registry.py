"""The encoder registry: one explicit table from ``--encoder NAME`` to the encoder's class,
and the functions that dispatch on it (config, fit, load).

A new encoder is one new module and one line in :data:`ENCODERS`; code outside the package can
add its own with :func:`register_encoder` (an explicit call, never an import side effect).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lookalike.encoders.base import ENCODER_JSON, Encoder, TrainingData
from lookalike.encoders.cae import CAEEncoder
from lookalike.encoders.hybrid import HybridEncoder
from lookalike.encoders.pretrained import PretrainedEncoder

#: Every encoder by name (its class's ``name``).
ENCODERS: dict[str, type] = {
    CAEEncoder.name: CAEEncoder,
    PretrainedEncoder.name: PretrainedEncoder,
    HybridEncoder.name: HybridEncoder,
}


def register_encoder(name: str) -> Callable[[type], type]:
    """Class decorator: make an encoder from outside this package available under ``name``
    (``--encoder NAME``); the decorated module must be imported by the caller first."""

    def decorate(cls: type) -> type:
        cls.name = name
        ENCODERS[name] = cls
        return cls

    return decorate


def encoder_class(name: str) -> type:
    """The registered class for ``name``; ValueError listing the known names otherwise."""
    try:
        return ENCODERS[name]
    except KeyError:
        known = ", ".join(sorted(ENCODERS))
        raise ValueError(f"unknown encoder {name!r}; known encoders: {known}") from None


def make_config(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """The encoder's config dataclass with defaults, updated by ``overrides``."""
    config_cls = encoder_class(name).Config
    fields = {f.name for f in dataclasses.fields(config_cls)}
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(
            f"encoder {name!r} has no option(s) {sorted(unknown)}; options: {sorted(fields)}"
        )
    return config_cls(**overrides)


def fit_encoder(name: str, data: TrainingData, config: Any) -> Encoder:
    """Train (or prepare) encoder ``name`` on ``data``."""
    return encoder_class(name).fit(data, config)


def load_encoder(directory: str | Path) -> Encoder:
    """Load whatever encoder was saved in ``directory`` (dispatch on ``encoder.json``)."""
    directory = Path(directory)
    meta = json.loads((directory / ENCODER_JSON).read_text())
    return encoder_class(meta["name"]).load(directory)
