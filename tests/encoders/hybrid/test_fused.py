"""lookalike.encoders.hybrid.fused: the query graph (backbone + pooling + head in one ONNX
graph) gives the unfused path's values, and queries use it."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.encoders import TrainingData, load_encoder
from lookalike.encoders.hybrid.config import HybridConfig
from lookalike.encoders.hybrid.encoder import FUSED_BATCH, HybridEncoder
from lookalike.encoders.hybrid.fused import fused_query_model
from lookalike.encoders.hybrid.fusion import fusion_parts
from tests.encoders.hybrid.conftest import FAST


def labels_of(catalog):
    return {"ProductType": [item.metadata["ProductType"] for item in catalog.items]}


@pytest.fixture(scope="module")
def saved(tiny_images, tmp_path_factory):
    """A fitted, saved and reloaded int8 multi-pooled hybrid (as a bundle holds it)."""
    catalog, images = tiny_images
    work = tmp_path_factory.mktemp("fused")
    encoder = HybridEncoder.fit(
        TrainingData(images, labels_of(catalog), work, progress=False),
        HybridConfig(**{**FAST, "tune": False, "pca_dim": 8}),
    )
    encoder.save(work / "saved")
    return load_encoder(work / "saved")


def test_fused_graph_matches_the_numpy_path(saved, tiny_images):
    _, images = tiny_images
    assert saved.fused_session() is not None
    assert saved.fused_session(batch=True) is not None
    # A query, a pair, and a batch over several runs of the batch session.
    for batch in (images[:1], images[1:3], np.concatenate([images] * 3)[: FUSED_BATCH + 3]):
        fused = saved.fusion_parts(batch)
        plain = fusion_parts(saved.head, *saved.parts(batch), saved.cfg)
        for got, want in zip(fused, plain, strict=True):
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, atol=1e-5)
    # A query (query session) and the same images inside a batch encode (batch session) agree.
    np.testing.assert_allclose(saved.encode(images[:2]), saved.encode(images)[:2], atol=1e-5)
    vectors, confidence = saved.encode_with_confidence(images[:1])
    np.testing.assert_allclose(vectors, saved.encode(images)[:1], atol=1e-5)
    assert 0 < confidence[0] <= 1


def test_fused_session_follows_the_backbone_runner(saved):
    first = saved.fused_session()
    assert saved.fused_session() is first  # made once
    saved.backbone = type(saved.backbone)(
        saved.backbone.onnx_path, threads=2, query_threads=1, pooling="multi"
    )
    again = saved.fused_session()
    assert again is not first
    assert again.get_session_options().intra_op_num_threads == 1
    # Batches run on the runner's batch threads, in a session of their own.
    batch = saved.fused_session(batch=True)
    assert batch is not again and batch.get_session_options().intra_op_num_threads == 2


def test_without_instance_output_or_multi_pooling(tiny_images, tmp_path):
    catalog, images = tiny_images
    plain = HybridEncoder.fit(
        TrainingData(images, labels_of(catalog), tmp_path, progress=False),
        HybridConfig(**{**FAST, "tune": False, "instance_dim": 0, "pca_dim": 0}),
    )
    parts = plain.fusion_parts(images[:1])
    assert parts[4].shape == (1, 0)
    np.testing.assert_allclose(plain.encode(images[:1]), plain.encode(images)[:1], atol=1e-5)
    avg = HybridEncoder.fit(
        TrainingData(images, labels_of(catalog), tmp_path, progress=False),
        HybridConfig(**{**FAST, "tune": False, "pooling": "avg", "precision": "fp32"}),
    )
    assert avg.fused_session() is None  # only the multi pooling is fused
    assert avg.encode(images[:1]).shape == (1, avg.dim)


def test_refuses_a_graph_that_is_not_multi_pooled(tmp_path, tiny_images):
    from lookalike.encoders.pretrained import BackboneRunner

    BackboneRunner(tmp_path / "avg.onnx", writable=True)  # an average-pooled export
    with pytest.raises(ValueError, match="not a multi-pooled backbone graph"):
        fused_query_model(tmp_path / "avg.onnx", {})


def test_warm_up_makes_both_sessions_before_the_first_request(saved, monkeypatch):
    from lookalike.encoders.base import warm_up
    from lookalike.encoders.hybrid import encoder as hybrid_encoder

    saved.backbone = type(saved.backbone)(
        saved.backbone.onnx_path, threads=2, query_threads=1, pooling="multi"
    )
    warm_up(saved)

    def refuse(*args, **kwargs):
        raise AssertionError("the fused graph was built after the warm-up")

    monkeypatch.setattr(hybrid_encoder, "fused_query_model", refuse)
    assert saved.fused_session() is not None and saved.fused_session(batch=True) is not None
