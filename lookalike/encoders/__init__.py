"""Encoders behind one protocol, chosen by name: ``cae``, ``efficientnet-lite0``, ``hybrid``."""

from lookalike.encoders.base import Encoder, TrainingData, encoder_resize
from lookalike.encoders.registry import (
    ENCODERS,
    encoder_class,
    fit_encoder,
    load_encoder,
    make_config,
    register_encoder,
)

__all__ = [
    "ENCODERS",
    "Encoder",
    "TrainingData",
    "encoder_class",
    "encoder_resize",
    "fit_encoder",
    "load_encoder",
    "make_config",
    "register_encoder",
]
