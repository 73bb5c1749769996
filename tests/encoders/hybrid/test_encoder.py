"""lookalike.encoders.hybrid.encoder: fit in both modes, projection, persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lookalike.encoders import TrainingData, load_encoder
from lookalike.encoders.hybrid import encoder as encoder_module
from lookalike.encoders.hybrid import tuning as tuning_module
from lookalike.encoders.hybrid.config import HybridConfig
from lookalike.encoders.hybrid.encoder import HybridEncoder
from lookalike.encoders.hybrid.projection import ProjectedViews
from tests.encoders.hybrid.conftest import FAST


def test_supervised_fit_learns_labels_and_round_trips(tmp_path, tiny_images):
    catalog, images = tiny_images
    labels = {
        "ProductType": [item.metadata["ProductType"] for item in catalog.items],
        "Colour": [item.metadata["Colour"] for item in catalog.items],
    }
    encoder = HybridEncoder.fit(
        TrainingData(images, labels, tmp_path, progress=False), HybridConfig(**FAST)
    )
    assert encoder.mode == "supervised"
    tuning = json.loads((tmp_path / "hybrid" / "tuning.json").read_text())
    assert tuning["mode"] == "supervised" and len(tuning["best"]) == 5
    assert len(encoder.cfg.weights) == 5 and "w3" in encoder.head
    vectors = encoder.encode(images)
    assert vectors.shape == (len(images), encoder.dim) and np.isfinite(vectors).all()
    # The fit's own embeddings of its photos (from the float16 cached clean views) are what
    # encode gives them, within that rounding (2 x float16's 2^-11 of the vectors' scale).
    rows, fitted = encoder.fit_embeddings
    np.testing.assert_array_equal(rows, np.arange(len(images)))
    scale = float(np.abs(vectors).max())
    np.testing.assert_allclose(fitted, vectors, atol=2 * 2.0**-11 * scale * 4)
    encoder.save(tmp_path / "saved")
    loaded = load_encoder(tmp_path / "saved")
    assert loaded.mode == "supervised" and loaded.dim == encoder.dim
    assert loaded.fit_embeddings is None  # only a fit has them
    np.testing.assert_allclose(loaded.encode(images), vectors, atol=1e-4)
    # The views are cached: a second fit reuses them (no new cache file appears).
    caches = sorted((tmp_path / "hybrid").glob("views-*.npy"))
    HybridEncoder.fit(TrainingData(images, labels, tmp_path, progress=False), HybridConfig(**FAST))
    assert sorted((tmp_path / "hybrid").glob("views-*.npy")) == caches


def test_without_labels_falls_back_to_self_supervised(tmp_path, tiny_images):
    _, images = tiny_images
    encoder = HybridEncoder.fit(
        TrainingData(images, {}, tmp_path, progress=False), HybridConfig(**FAST)
    )
    assert encoder.mode == "self-supervised"
    vectors = encoder.encode(images[:4])
    assert vectors.shape == (4, encoder.dim)


def test_pca_projects_big_enough_catalogs_and_round_trips(tmp_path, tiny_images):
    _, images = tiny_images
    n = len(images)
    small = HybridConfig(**{**FAST, "pca_dim": n // 4})  # n >= 4 x dims: projected
    encoder = HybridEncoder.fit(TrainingData(images, {}, tmp_path, progress=False), small)
    vectors = encoder.encode(images)
    assert encoder.dim == n // 4 and vectors.shape == (n, n // 4)
    # The projection keeps who is near whom: each image's nearest neighbour by the full
    # fused embedding is mostly still among its 3 nearest after projecting.
    full = encoder.fused(*encoder.parts(images))

    def nearest(x):
        d = ((x[:, None] - x[None]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        return np.argsort(d, axis=1)

    kept = np.mean([a[0] in b[:3] for a, b in zip(nearest(full), nearest(vectors), strict=True)])
    assert kept >= 0.8, kept
    encoder.save(tmp_path / "saved")
    assert (tmp_path / "saved" / "pca.safetensors").is_file()
    np.testing.assert_allclose(load_encoder(tmp_path / "saved").encode(images), vectors, atol=1e-4)
    # Too few items for the dims asked: every dimension is kept, no projection saved.
    big = HybridConfig(**{**FAST, "pca_dim": n // 2})
    unprojected = HybridEncoder.fit(TrainingData(images, {}, tmp_path, progress=False), big)
    assert unprojected.pca is None and unprojected.dim == full.shape[1]


def test_hybrid_bundles_from_before_pooling_load_with_the_plain_average(tmp_path, tiny_images):
    _, images = tiny_images
    old = {
        "pooling": "avg",
        "precision": "fp32",
        "pca_dim": 0,
        "colour_centre_sigma": 0.0,
        "instance_dim": 0,
        "primary_class_weight": 1.0,
        "colour_class_weight": 1.0,
    }
    config = HybridConfig(**{**FAST, **old})
    encoder = HybridEncoder.fit(TrainingData(images, {}, tmp_path, progress=False), config)
    encoder.save(tmp_path / "saved")
    assert (tmp_path / "saved" / "backbone.onnx").is_file()
    payload = json.loads((tmp_path / "saved" / "encoder.json").read_text())
    for option in old:
        del payload["config"][option]  # what an old encoder.json lacks
    payload["config"]["weights"] = payload["config"]["weights"][:4]
    (tmp_path / "saved" / "encoder.json").write_text(json.dumps(payload))
    loaded = load_encoder(tmp_path / "saved")
    assert loaded.cfg.pooling == "avg" and loaded.cfg.precision == "fp32"
    assert loaded.cfg.instance_dim == 0 and len(loaded.cfg.weights) == 5
    assert loaded.cfg.class_column_weights == {"Colour": 1.0, "ProductType": 1.0}
    np.testing.assert_allclose(loaded.encode(images[:3]), encoder.encode(images[:3]), atol=1e-4)


def test_archive_photos_train_the_head_but_not_the_projection(tmp_path, tiny_images):
    catalog, images = tiny_images
    labels = {"ProductType": [item.metadata["ProductType"] for item in catalog.items]}
    # Archive photos of a type the catalog lacks: the head must learn that class too.
    archive = np.full((6, 224, 224, 3), 255, np.uint8)
    archive[:, 60:160, 60:160] = (200, 120, 0)
    config = HybridConfig(**{**FAST, "tune": False})
    plain = HybridEncoder.fit(TrainingData(images, labels, tmp_path, progress=False), config)
    data = TrainingData(images, labels, tmp_path, progress=False)
    data.archive_images, data.archive_labels = archive, {"ProductType": ["Archived"] * 6}

    taught = HybridEncoder.fit(data, config)

    assert plain.head["class.ProductType"].shape[0] == 3
    assert taught.head["class.ProductType"].shape[0] == 4
    assert taught.encode(images).shape == (len(images), taught.dim)
    # Archive views are cached beside the catalog's: two view caches now.
    assert len(list((tmp_path / "hybrid").glob("views-*.npy"))) == 2


def test_context_composites_train_with_their_catalog_rows_labels_and_are_never_left_out(
    tmp_path, tiny_images, monkeypatch
):
    catalog, images = tiny_images
    types = [item.metadata["ProductType"] for item in catalog.items]
    labels = {"ProductType": types}
    config = HybridConfig(**{**FAST, "tune": False, "leave_out_archive_labels": (types[0],)})
    data = TrainingData(images, labels, tmp_path, progress=False)
    # Two archive photos of the first type (left out) and composites of rows 0 and 1.
    data.archive_images = np.full((2, 224, 224, 3), 255, np.uint8)
    data.archive_labels = {"ProductType": [types[0], types[0]]}
    data.context_images, data.context_rows = images[:2].copy(), [0, 1]
    seen = {}

    def spy(features, targets, config, **kwargs):
        seen["rows"], seen["targets"] = len(features), targets
        return real_train_head(features, targets, config, **kwargs)

    real_train_head = encoder_module.train_head
    monkeypatch.setattr(encoder_module, "train_head", spy)
    HybridEncoder.fit(data, config)
    # The catalog's rows, no archive row (its type is left out), the two composites.
    assert seen["rows"] == len(images) + 2
    classes = seen["targets"]["ProductType"]
    assert classes[-2] == classes[0] and classes[-1] == classes[1]


def test_encode_with_confidence_is_encode_plus_the_type_classifiers_top_probability(
    tmp_path, tiny_images
):
    catalog, images = tiny_images
    labels = {"ProductType": [item.metadata["ProductType"] for item in catalog.items]}
    config = HybridConfig(**{**FAST, "tune": False})
    encoder = HybridEncoder.fit(TrainingData(images, labels, tmp_path, progress=False), config)

    vectors, confidence = encoder.encode_with_confidence(images[:5])

    np.testing.assert_allclose(vectors, encoder.encode(images[:5]), atol=1e-5)
    assert confidence.shape == (5,) and ((confidence > 1 / 3) & (confidence <= 1)).all()
    unlabelled = HybridEncoder.fit(TrainingData(images, {}, tmp_path / "u", progress=False), config)
    assert np.isnan(unlabelled.encode_with_confidence(images[:2])[1]).all()


def test_lazy_photos_fit_leave_out_unreadable_ones_and_refit_without_decoding(
    tmp_path, tiny_images, monkeypatch
):
    from lookalike.imaging.lazy import LazyPhotos

    catalog, images = tiny_images
    paths = [str(item.path) for item in catalog.items]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photo")
    photos = LazyPhotos([*paths[:3], str(broken), *paths[3:]], 224)
    types = [item.metadata["ProductType"] for item in catalog.items]
    labels = {"ProductType": [*types[:3], types[0], *types[3:]]}
    config = HybridConfig(**FAST)
    work = tmp_path / "work"
    encoder = HybridEncoder.fit(TrainingData(photos, labels, work, progress=False), config)
    assert encoder.mode == "supervised"
    failed = json.loads(next((work / "hybrid").glob("views-*.failed.json")).read_text())
    assert [row for row, _ in failed] == [3]
    views = np.load(next((work / "hybrid").glob("views-*[0-9a-f].npy")))
    assert len(views) == len(paths)  # the unreadable photo has no row
    rows, fitted = encoder.fit_embeddings
    np.testing.assert_array_equal(rows, [0, 1, 2, *range(4, len(paths) + 1)])
    assert fitted.shape == (len(paths), encoder.dim)

    # An unchanged set of photos: cached views and the exported graph, nothing decoded.
    def no_decoding(self, rows):
        raise AssertionError("decoded again")

    monkeypatch.setattr(LazyPhotos, "decode", no_decoding)
    again = HybridEncoder.fit(TrainingData(photos, labels, work, progress=False), config)
    np.testing.assert_allclose(again.encode(images[:2]), encoder.encode(images[:2]), atol=1e-5)

    # Decoding changed (a format newly readable, colours now converted): the same files are
    # decoded again, so a photo cached as unreadable is retried.
    monkeypatch.setattr(encoder_module, "DECODE_VERSION", encoder_module.DECODE_VERSION + 1)
    with pytest.raises(AssertionError, match="decoded again"):
        HybridEncoder.fit(TrainingData(photos, labels, work, progress=False), config)


def test_views_read_ahead_are_the_serial_views_and_lazy_photos_give_the_arrays_views(
    tmp_path, tiny_images, monkeypatch
):
    """The next chunk is decoded and augmented on another thread: the seeded augmentations
    (and so the cached view features) are those of one thread doing it all in order."""
    from lookalike.encoders.hybrid import encoder as module
    from lookalike.imaging.lazy import LazyPhotos

    catalog, images = tiny_images
    config = HybridConfig(**{**FAST, "views": 2})
    monkeypatch.setattr(module, "VIEW_CHUNK", 3)  # several chunks, each read ahead

    def views_of(photos, workdir):
        workdir.mkdir()
        encoder = HybridEncoder(config, None, workdir, "pending", True, photos)
        return HybridEncoder._cached_views(encoder, photos, config, workdir, False)[0]

    ahead = views_of(images, tmp_path / "ahead")
    lazy = views_of(LazyPhotos([str(item.path) for item in catalog.items], 224), tmp_path / "lazy")
    monkeypatch.setattr(module, "read_ahead", lambda items: list(items))
    serial = views_of(images, tmp_path / "serial")
    assert ahead.shape == (len(images), 4, serial.shape[2])
    np.testing.assert_allclose(ahead.astype(np.float32), serial.astype(np.float32), atol=1e-3)
    np.testing.assert_allclose(lazy.astype(np.float32), serial.astype(np.float32), atol=1e-3)


def test_head_input_dim_trains_every_head_on_projected_views_folded_over_the_raw_ones(
    tmp_path, tiny_images, monkeypatch
):
    catalog, images = tiny_images
    labels = {"ProductType": [item.metadata["ProductType"] for item in catalog.items]}
    inputs = []

    def spy(features, *args, **kwargs):
        inputs.append(features)
        return real_train_head(features, *args, **kwargs)

    real_train_head = encoder_module.train_head
    monkeypatch.setattr(encoder_module, "train_head", spy)
    monkeypatch.setattr(tuning_module, "train_head", spy)
    both = {**FAST, "head_input_dim": 6, "tune_input_dim": 6, "tune_splits": 1}

    encoder = HybridEncoder.fit(
        TrainingData(images, labels, tmp_path, progress=False), HybridConfig(**both)
    )

    # One tuning head and the bundle's head, both on the same projected views.
    assert len(inputs) == 2 and all(isinstance(x, ProjectedViews) for x in inputs)
    assert inputs[0] is inputs[1] and inputs[0].features.shape[2] == 6
    raw_dim = inputs[0].in_dim
    assert encoder.head["w1"].shape == (FAST["hidden_dim"], raw_dim)
    vectors = encoder.encode(images)
    assert vectors.shape == (len(images), encoder.dim) and np.isfinite(vectors).all()
    encoder.save(tmp_path / "saved")
    np.testing.assert_allclose(load_encoder(tmp_path / "saved").encode(images), vectors, atol=1e-4)

    # tune_input_dim alone: the tuning head projected, the bundle's head on the raw views.
    inputs.clear()
    tuned_only = HybridConfig(**{**FAST, "tune_input_dim": 6, "tune_splits": 1})
    HybridEncoder.fit(TrainingData(images, labels, tmp_path, progress=False), tuned_only)
    assert isinstance(inputs[0], ProjectedViews) and inputs[0].features.shape[2] == 6
    assert isinstance(inputs[1], np.ndarray) and inputs[1].shape[2] == raw_dim
