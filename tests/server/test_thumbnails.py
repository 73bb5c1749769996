"""The thumbnail cache (server/thumbnails.py): made once, written atomically, readable by others."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from lookalike.imaging import ImageDecodeError
from lookalike.server.thumbnails import ThumbnailCache


def test_thumbnail_cached_once_in_bundle_dir(app_factory, tmp_path):
    # Default cache folder: BUNDLE/thumbnails (here a stand-in bundle folder).
    app = app_factory(tmp_path)
    thumbs = app.state.catalog.thumbnails
    with TestClient(app) as test_client:
        first = test_client.get("/api/items/105/thumbnail")
        files = list((tmp_path / "thumbnails").rglob("*.jpg"))
        assert len(files) == 1 and thumbs.generated == 1
        stamp = files[0].stat().st_mtime_ns
        second = test_client.get("/api/items/105/thumbnail")
        assert second.content == first.content == files[0].read_bytes()
        assert thumbs.generated == 1 and files[0].stat().st_mtime_ns == stamp
        assert not list((tmp_path / "thumbnails").rglob(".tmp-*"))  # no temp files left


def test_thumbnail_written_once_readable_by_others(tmp_path, tiny_catalog):
    cache = ThumbnailCache(tmp_path / "cache")
    source = tiny_catalog / "Apparel" / "101.jpg"
    path = cache.get(source)
    assert path == cache.path_for(cache.key(source))
    assert path.stat().st_mode & 0o777 == 0o644  # a proxy may serve the cache folder
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left
    with Image.open(path) as image:
        assert image.format == "JPEG" and image.size == (192, 192)
    assert cache.get(source) == path and cache.generated == 1


def test_thumbnail_made_again_when_decoding_changes(tmp_path, tiny_catalog, monkeypatch):
    """A thumbnail rendered by an earlier decoding (before colour profiles were converted)
    is not served once DECODE_VERSION changes: a new key, so a new file and ETag."""
    import lookalike.server.thumbnails as thumbnails

    cache = ThumbnailCache(tmp_path / "cache")
    source = tiny_catalog / "Apparel" / "101.jpg"
    before = cache.get(source)
    monkeypatch.setattr(thumbnails, "DECODE_VERSION", thumbnails.DECODE_VERSION + 1)
    after = cache.get(source)
    assert after != before and cache.generated == 2


def test_unwritable_cache_answers_with_bytes(tmp_path, tiny_catalog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    cache = ThumbnailCache(blocker / "cache")  # nothing can be written under a file
    source = tiny_catalog / "Apparel" / "101.jpg"
    data = cache.get(source)
    assert isinstance(data, bytes) and data[:2] == b"\xff\xd8"
    assert data == cache.render(source)


def test_missing_or_broken_source_raises(tmp_path):
    cache = ThumbnailCache(tmp_path / "cache")
    with pytest.raises(OSError):
        cache.get(tmp_path / "missing.jpg")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(ImageDecodeError):
        cache.get(broken)
