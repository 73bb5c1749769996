"""Tests for lookalike.imaging, on tiny synthetic images written to tmp_path."""

from __future__ import annotations

import hashlib
import io
import os
import random
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from lookalike import imaging
from lookalike.imaging import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    BatchResult,
    ImageDecodeError,
    average_hash,
    cached_images,
    hamming,
    image_content_hash,
    iter_image_batches,
    letterbox,
    load_image,
    load_images,
    open_rgb,
)

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def save(img: Image.Image, path: Path, **kwargs) -> Path:
    img.save(path, **kwargs)
    return path


def solid(color, size=(16, 16), mode="RGB") -> Image.Image:
    return Image.new(mode, size, color)


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def pixel(img: Image.Image, xy=(0, 0)) -> tuple[int, ...]:
    return tuple(img.getpixel(xy))


def assert_close(actual, expected, tol=8):
    assert np.all(np.abs(np.subtract(actual, expected, dtype=np.int64)) <= tol), (actual, expected)


def noise_image(seed: int, size=(64, 48)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def png_with_declared_size(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose IHDR is patched to claim width x height (CRC fixed up)."""
    data = bytearray(encode(Image.new("1", (1, 1)), "PNG"))
    # Signature (8) + chunk length (4) + b"IHDR" (4), then width and height, big-endian.
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


# --- constants and error type --------------------------------------------------------------


def test_constants_and_error_type():
    assert DEFAULT_MAX_PIXELS == 40_000_000
    assert {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"} == IMAGE_EXTENSIONS
    assert issubclass(ImageDecodeError, ValueError)
    assert str(ImageDecodeError("plain message")) == "plain message"


# --- round trips and colour modes ----------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "kwargs", "tol"),
    [
        (".jpg", {"quality": 95}, 6),
        (".png", {}, 0),
        (".webp", {"lossless": True}, 0),
        (".bmp", {}, 0),
    ],
)
def test_round_trip(tmp_path, suffix, kwargs, tol):
    img = Image.new("RGB", (20, 10), RED)
    img.paste(BLUE, (10, 0, 20, 10))
    out = open_rgb(save(img, tmp_path / f"a{suffix}", **kwargs))
    assert out.mode == "RGB" and out.size == (20, 10)
    assert_close(pixel(out, (2, 5)), RED, tol)
    assert_close(pixel(out, (17, 5)), BLUE, tol)


def test_rgba_composited_on_white(tmp_path):
    img = Image.new("RGBA", (3, 1))
    img.putpixel((0, 0), (255, 0, 0, 255))  # opaque red
    img.putpixel((1, 0), (0, 0, 255, 0))  # fully transparent blue
    img.putpixel((2, 0), (0, 0, 0, 128))  # half-transparent black
    out = open_rgb(save(img, tmp_path / "a.png"))
    assert out.mode == "RGB"
    assert pixel(out, (0, 0)) == RED
    assert pixel(out, (1, 0)) == WHITE
    assert_close(pixel(out, (2, 0)), (127, 127, 127), 1)


def test_la_composited_on_white(tmp_path):
    img = Image.new("LA", (2, 1))
    img.putpixel((0, 0), (40, 255))
    img.putpixel((1, 0), (0, 0))
    out = open_rgb(save(img, tmp_path / "a.png"))
    assert pixel(out, (0, 0)) == (40, 40, 40)
    assert pixel(out, (1, 0)) == WHITE


def _palette_image() -> Image.Image:
    img = Image.new("P", (2, 1))
    img.putpalette([*RED, *GREEN] + [0] * (256 * 3 - 6))
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    return img


def test_palette_png_without_transparency(tmp_path):
    path = save(_palette_image(), tmp_path / "p.png")
    assert Image.open(path).mode == "P"
    out = open_rgb(path)
    assert pixel(out, (0, 0)) == RED
    assert pixel(out, (1, 0)) == GREEN


def test_palette_png_with_transparency(tmp_path):
    path = save(_palette_image(), tmp_path / "p.png", transparency=1)
    with Image.open(path) as check:
        assert check.mode == "P" and "transparency" in check.info
    out = open_rgb(path)
    assert pixel(out, (0, 0)) == RED
    assert pixel(out, (1, 0)) == WHITE


def test_rgb_png_with_colour_key_transparency(tmp_path):
    img = Image.new("RGB", (2, 1), RED)
    img.putpixel((1, 0), GREEN)
    out = open_rgb(save(img, tmp_path / "k.png", transparency=GREEN))
    assert pixel(out, (0, 0)) == RED
    assert pixel(out, (1, 0)) == WHITE


def test_sixteen_bit_gray_scaled_not_clipped(tmp_path):
    values = np.array([[0, 1000, 32768, 65535]], dtype=np.uint16)
    path = save(Image.fromarray(values), tmp_path / "g16.png")
    assert Image.open(path).mode.startswith("I")
    out = np.asarray(open_rgb(path))
    assert out.dtype == np.uint8 and out.shape == (1, 4, 3)
    assert out[0, :, 0].tolist() == [0, 4, 128, 255]  # 1000 would clip to 255
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_mode_i_scaled_as_sixteen_bit():
    img = Image.fromarray(np.array([[0, 65535, 70000, -5]], dtype=np.int32))
    assert img.mode == "I"
    out = letterbox(img.resize((4, 4), Image.Resampling.NEAREST), 4)
    assert out[0, :, 0].tolist() == [0, 255, 255, 0]


def test_cmyk_jpeg(tmp_path):
    path = save(solid((0, 255, 255, 0), mode="CMYK"), tmp_path / "c.jpg", quality=95)
    assert Image.open(path).mode == "CMYK"
    out = open_rgb(path)
    assert out.mode == "RGB"
    assert_close(pixel(out, (8, 8)), RED, 12)


def test_grayscale_l(tmp_path):
    out = open_rgb(save(solid(77, mode="L"), tmp_path / "l.png"))
    assert out.mode == "RGB" and pixel(out, (3, 3)) == (77, 77, 77)


def test_one_by_one(tmp_path):
    path = save(solid(RED, size=(1, 1)), tmp_path / "one.png")
    assert open_rgb(path).size == (1, 1)
    arr = load_image(path, 32)
    assert arr.shape == (32, 32, 3) and arr.dtype == np.uint8
    assert (arr == RED).all()  # a square fills the whole square


def test_exif_orientation_applied(tmp_path):
    # 40x20 landscape, red top-left corner. Orientation 6 = rotate 90 degrees clockwise to view,
    # so the upright image is 20x40 with the red corner at the top right.
    img = Image.new("RGB", (40, 20), BLUE)
    img.paste(RED, (0, 0, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(img, tmp_path / "rot.jpg", exif=exif, quality=95)
    out = open_rgb(path)
    assert out.size == (20, 40)
    assert_close(pixel(out, (17, 2)), RED, 20)
    assert_close(pixel(out, (2, 2)), BLUE, 20)
    assert_close(pixel(out, (17, 37)), BLUE, 20)


def test_corrupt_exif_ignored(tmp_path):
    path = save(solid(RED), tmp_path / "badexif.jpg", exif=b"Exif\x00\x00garbage-here", quality=95)
    assert_close(pixel(open_rgb(path), (8, 8)), RED, 6)


def test_animated_gif_first_frame(tmp_path):
    frames = [solid(RED), solid(BLUE), solid(GREEN)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert Image.open(path).n_frames == 3
    out = open_rgb(path)
    assert out.mode == "RGB" and pixel(out, (5, 5)) == RED


# --- sources -------------------------------------------------------------------------------


def test_bytes_bytearray_and_stream_sources():
    data = encode(solid(GREEN), "PNG")
    for source in (data, bytearray(data), memoryview(data), io.BytesIO(data)):
        assert pixel(open_rgb(source), (1, 1)) == GREEN
    assert load_image(data, 8).shape == (8, 8, 3)


def test_stream_not_closed():
    stream = io.BytesIO(encode(solid(GREEN), "PNG"))
    open_rgb(stream)
    assert not stream.closed


def test_pathlike_source(tmp_path):
    path = save(solid(BLUE), tmp_path / "b.png")
    assert pixel(open_rgb(Path(path)), (0, 0)) == BLUE
    assert pixel(open_rgb(str(path)), (0, 0)) == BLUE


# --- failures ------------------------------------------------------------------------------


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty") as info:
        open_rgb(path)
    assert str(path) in str(info.value)
    assert info.value.source == str(path)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.jpg"
    with pytest.raises(ImageDecodeError, match="cannot read file") as info:
        open_rgb(path)
    assert str(path) in str(info.value)


def test_truncated_jpeg_raises_not_gray(tmp_path):
    full = encode(noise_image(0, (128, 128)), "JPEG", quality=90)
    path = tmp_path / "trunc.jpg"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(ImageDecodeError, match="truncated") as info:
        open_rgb(path)
    assert str(path) in str(info.value)


def test_truncated_png_raises(tmp_path):
    full = encode(noise_image(1, (64, 64)), "PNG")
    path = tmp_path / "trunc.png"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(ImageDecodeError, match=r"trunc\.png"):
        open_rgb(path)


def test_random_bytes_named_jpg(tmp_path):
    path = tmp_path / "random.jpg"
    path.write_bytes(random.Random(0).randbytes(4096))
    with pytest.raises(ImageDecodeError, match="not a recognised image format") as info:
        open_rgb(path)
    assert str(path) in str(info.value)


def test_html_named_png(tmp_path):
    path = tmp_path / "page.png"
    path.write_text("<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n")
    with pytest.raises(ImageDecodeError, match="HTML") as info:
        open_rgb(path)
    assert str(path) in str(info.value)


def test_bytes_error_names_bytes():
    with pytest.raises(ImageDecodeError, match="<bytes>"):
        open_rgb(b"definitely not an image")


def test_decompression_bomb_huge_header_refused_quickly(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_with_declared_size(30_000, 30_000))
    t0 = time.perf_counter()
    with pytest.raises(ImageDecodeError) as info:
        open_rgb(path)
    assert time.perf_counter() - t0 < 1.0  # a real 900 MP decode would take far longer
    message = str(info.value)
    assert str(path) in message
    assert "900000000" in message.replace(",", "") or "30000x30000" in message


def test_max_pixels_checked_before_decoding(tmp_path):
    # 7000x7000 = 49 MP: under Pillow's own limits but over DEFAULT_MAX_PIXELS; the data behind
    # the header is a single pixel, so only a pre-decode size check can report the size.
    path = tmp_path / "big.png"
    path.write_bytes(png_with_declared_size(7000, 7000))
    with pytest.raises(ImageDecodeError, match="7000x7000"):
        open_rgb(path)
    with pytest.raises(ImageDecodeError, match="7000x7000"):
        load_image(path, 64)


def test_max_pixels_parameter(tmp_path):
    path = save(solid(RED, size=(100, 100)), tmp_path / "a.png")
    with pytest.raises(ImageDecodeError, match="100x100"):
        open_rgb(path, max_pixels=9_999)
    assert open_rgb(path, max_pixels=10_000).size == (100, 100)


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_pillow_bomb_warning_as_error_becomes_decode_error():
    # 10000x10000 = 100 MP makes Pillow warn; with warnings as errors it raises inside
    # Image.open, which must still surface as ImageDecodeError.
    with pytest.raises(ImageDecodeError, match="<bytes>"):
        open_rgb(png_with_declared_size(10_000, 10_000), max_pixels=10**9)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_pillow_limit_caps_larger_max_pixels():
    with pytest.raises(ImageDecodeError, match="10000x10000"):
        open_rgb(png_with_declared_size(10_000, 10_000), max_pixels=10**9)


def test_invalid_arguments():
    data = encode(solid(RED), "PNG")
    with pytest.raises(ValueError):
        open_rgb(data, draft_size=0)
    with pytest.raises(ValueError):
        open_rgb(data, max_pixels=0)
    with pytest.raises(ValueError):
        letterbox(solid(RED), 0)


_PREFIXES = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    b"GIF89a",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"BM",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(_PREFIXES), data=st.binary(max_size=2000))
def test_arbitrary_bytes_decode_or_raise_decode_error(prefix, data):
    # Valid magic numbers send the fuzz into the real parsers instead of stopping at identify.
    try:
        img = open_rgb(prefix + data)
    except ImageDecodeError:
        return
    assert img.mode == "RGB" and img.size[0] >= 1 and img.size[1] >= 1


# --- draft mode ----------------------------------------------------------------------------


def test_draft_shrinks_big_jpeg(tmp_path):
    img = Image.new("RGB", (2000, 1500), RED)
    img.paste(BLUE, (1000, 0, 2000, 1500))
    path = save(img, tmp_path / "big.jpg", quality=85)
    assert open_rgb(path).size == (2000, 1500)
    small = open_rgb(path, draft_size=256)
    assert max(small.size) < 2000
    assert min(small.size) >= 256
    w, h = small.size
    assert abs(w / h - 2000 / 1500) < 0.01
    assert_close(pixel(small, (w // 4, h // 2)), RED, 10)
    assert_close(pixel(small, (3 * w // 4, h // 2)), BLUE, 10)


def test_draft_ignored_for_png(tmp_path):
    path = save(solid(RED, size=(600, 400)), tmp_path / "big.png")
    assert open_rgb(path, draft_size=64).size == (600, 400)


# --- letterbox -----------------------------------------------------------------------------


def test_letterbox_wide_image():
    out = letterbox(solid(RED, size=(400, 10)), 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    content_rows = np.where((out != 255).any(axis=(1, 2)))[0]
    assert len(content_rows) >= 1
    assert content_rows.min() > 20 and content_rows.max() < 44  # centred band
    assert (out[:20] == 255).all() and (out[44:] == 255).all()  # white top and bottom
    assert (out[content_rows] == RED).all()  # full width, never stretched vertically


def test_letterbox_tall_image_pads_left_right():
    out = letterbox(solid(BLUE, size=(10, 400)), 64)
    assert (out[:, :20] == 255).all() and (out[:, 44:] == 255).all()
    assert (out[:, 32] == BLUE).all()


def test_letterbox_extreme_aspect_keeps_one_pixel():
    out = letterbox(solid(RED, size=(5000, 1)), 32)
    red_rows = np.where((out == RED).all(axis=(1, 2)))[0]
    assert len(red_rows) == 1


def test_letterbox_keeps_aspect_and_fill():
    img = solid(RED, size=(100, 50))
    out = letterbox(img, 40, fill=(0, 0, 0))
    nonblack = np.where((out != 0).any(axis=2))
    assert nonblack[1].min() == 0 and nonblack[1].max() == 39
    assert nonblack[0].max() - nonblack[0].min() + 1 == 20
    assert (out[0] == 0).all()


def test_letterbox_upscales_small_image():
    out = letterbox(solid(GREEN, size=(4, 2)), 32)
    assert (out[8:24] == GREEN).all() and (out[:8] == 255).all()


def test_letterbox_converts_rgba():
    out = letterbox(Image.new("RGBA", (4, 4), (0, 0, 0, 0)), 8)
    assert (out == 255).all()


# --- batches -------------------------------------------------------------------------------


def _mixed_sources(tmp_path: Path):
    colors = [RED, GREEN, BLUE, (200, 100, 50), (10, 20, 30)]
    sources: list = []
    for i, color in enumerate(colors):
        sources.append(save(solid(color, size=(20 + i, 12)), tmp_path / f"ok{i}.png"))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    sources.insert(1, bad)  # index 1
    sources.insert(4, tmp_path / "missing.png")  # index 4
    sources.append(b"\x89PNG broken")  # index 7
    return sources, [0, 2, 3, 5, 6], [1, 4, 7]


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_load_images_order_and_errors(tmp_path, workers):
    sources, good, bad = _mixed_sources(tmp_path)
    result = load_images(sources, 16, workers=workers)
    assert isinstance(result, BatchResult)
    assert result.ok == good
    assert [i for i, _ in result.errors] == bad
    assert "bad.jpg" in result.errors[0][1] and "missing.png" in result.errors[1][1]
    assert "<bytes>" in result.errors[2][1]
    assert result.images.shape == (len(good), 16, 16, 3) and result.images.dtype == np.uint8
    for row, index in enumerate(result.ok):
        np.testing.assert_array_equal(result.images[row], load_image(sources[index], 16))


def test_load_images_empty_and_progress(tmp_path):
    result = load_images([], 8, progress=True)
    assert result.images.shape == (0, 8, 8, 3) and result.ok == [] and result.errors == []
    path = save(solid(RED), tmp_path / "a.png")
    assert load_images([path, path], 8, progress=True, desc="x").ok == [0, 1]


def test_iter_image_batches_yields_everything_once_in_order(tmp_path):
    sources, good, bad = _mixed_sources(tmp_path)
    full = load_images(sources, 16)
    batches = list(iter_image_batches(sources, 16, batch_size=3, workers=2))
    assert len(batches) == 3  # 8 inputs in batches of 3
    assert [b.ok for b in batches] == [[0, 2], [3, 5], [6]]
    assert sum((b.ok for b in batches), []) == good
    assert [i for b in batches for i, _ in b.errors] == bad
    assert all(b.images.shape[1:] == (16, 16, 3) for b in batches)
    np.testing.assert_array_equal(np.concatenate([b.images for b in batches]), full.images)


def test_iter_image_batches_edge_cases(tmp_path):
    assert list(iter_image_batches([], 8, batch_size=4)) == []
    path = save(solid(RED), tmp_path / "a.png")
    batches = list(iter_image_batches([path] * 5, 8, batch_size=10, progress=True))
    assert len(batches) == 1 and batches[0].ok == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        iter_image_batches([path], 8, batch_size=0)  # raised at call time, not first next()


def test_iter_image_batches_prefetches_one_batch(tmp_path, monkeypatch):
    path = save(solid(RED), tmp_path / "a.png")
    decoded: list[int] = []
    real = imaging.load_image

    def counting(source, size, **kwargs):
        decoded.append(1)
        return real(source, size, **kwargs)

    monkeypatch.setattr(imaging, "load_image", counting)
    gen = iter_image_batches([path] * 12, 8, batch_size=3, workers=2)
    next(gen)
    deadline = time.monotonic() + 5
    while len(decoded) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)  # the caller "works" while batch 2 decodes in the background
    time.sleep(0.05)
    assert len(decoded) == 6  # batch 2 prefetched, batch 3 not started: ~2 batches in memory
    assert [b.ok for b in gen] == [[3, 4, 5], [6, 7, 8], [9, 10, 11]]


def test_iter_image_batches_early_stop(tmp_path):
    path = save(solid(RED), tmp_path / "a.png")
    gen = iter_image_batches([path] * 50, 8, batch_size=2, workers=2)
    first = next(gen)
    gen.close()  # must cancel prefetching without hanging
    assert first.ok == [0, 1]


# --- cache ---------------------------------------------------------------------------------


def test_cached_images_reuses_and_invalidates(tmp_path, monkeypatch):
    img_dir, cache_dir = tmp_path / "imgs", tmp_path / "cache"
    img_dir.mkdir()
    paths = [save(solid(c), img_dir / f"{i}.png") for i, c in enumerate([RED, GREEN])]
    bad = img_dir / "bad.png"
    bad.write_text("<html></html>")
    paths.append(bad)

    first = cached_images(paths, 8, cache_dir, progress=False)
    assert first.ok == [0, 1] and [i for i, _ in first.errors] == [2]
    assert len(list(cache_dir.glob("*.npy"))) == 1 and len(list(cache_dir.glob("*.json"))) == 1
    assert not list(cache_dir.glob("*.tmp"))

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded despite a valid cache")

    monkeypatch.setattr(imaging, "load_images", no_decoding)
    second = cached_images(paths, 8, cache_dir, progress=False)
    np.testing.assert_array_equal(second.images, first.images)
    assert second.ok == first.ok and second.errors == first.errors
    assert type(second.images) is np.ndarray  # not a memmap
    assert second.images.flags.writeable

    # A different size is a different cache entry.
    with pytest.raises(AssertionError, match="decoded"):
        cached_images(paths, 4, cache_dir, progress=False)

    # Rewriting a file (new content, size and mtime) must invalidate the cache.
    save(solid(BLUE, size=(16, 8)), paths[0])
    st = paths[0].stat()
    os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="decoded"):
        cached_images(paths, 8, cache_dir, progress=False)
    monkeypatch.undo()
    third = cached_images(paths, 8, cache_dir, progress=False)
    assert (third.images[0, 4] == BLUE).all()
    assert (third.images[0, 0] == 255).all()


def test_cached_images_rebuilds_corrupt_cache(tmp_path):
    path = save(solid(RED), tmp_path / "a.png")
    cache_dir = tmp_path / "cache"
    cached_images([path], 8, cache_dir, progress=False)
    (npy,) = cache_dir.glob("*.npy")
    npy.write_bytes(b"garbage")
    again = cached_images([path], 8, cache_dir, progress=False)
    assert again.ok == [0] and (again.images == RED).all()


# --- hashing -------------------------------------------------------------------------------


def test_image_content_hash(tmp_path):
    data = encode(solid(RED), "PNG")
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(data)
    b.write_bytes(data)
    assert image_content_hash(a) == hashlib.sha256(data).hexdigest() == image_content_hash(str(b))
    c = save(solid(RED), tmp_path / "c.jpg")
    assert image_content_hash(c) != image_content_hash(a)


def _blocky(seed: int) -> np.ndarray:
    blocks = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return np.kron(blocks, np.ones((16, 16, 1), dtype=np.uint8))  # 128x128x3


def test_average_hash_near_duplicates_and_different_images():
    original = _blocky(1)
    reencoded = np.asarray(open_rgb(encode(Image.fromarray(original), "JPEG", quality=70)))
    h_orig, h_jpeg = average_hash(original), average_hash(reencoded)
    assert 0 <= h_orig < 2**64
    assert hamming(h_orig, h_jpeg) <= 4
    h_other = average_hash(_blocky(2))
    assert hamming(h_orig, h_other) >= 16
    # Resizing is also a near-duplicate.
    resized = letterbox(Image.fromarray(original), 64)
    assert hamming(h_orig, average_hash(resized)) <= 4


def test_average_hash_bits_and_sizes():
    left_dark = np.zeros((8, 8, 3), dtype=np.uint8)
    left_dark[:, 4:] = 255
    # Each row is 00001111, so 8 rows of 0x0F.
    assert average_hash(left_dark) == int("0F" * 8, 16)
    assert average_hash(left_dark[..., 0]) == average_hash(left_dark)  # grayscale input
    assert average_hash(_blocky(3), hash_size=16) < 2**256
    assert average_hash(_blocky(3), hash_size=3) < 2**9
    with pytest.raises(ValueError):
        average_hash(left_dark.astype(np.float32))
    with pytest.raises(ValueError):
        average_hash(left_dark, hash_size=0)


def test_hamming():
    assert hamming(0b1011, 0b0001) == 2
    assert hamming(0, 0) == 0
    assert hamming(2**64 - 1, 0) == 64
    with pytest.raises(ValueError):
        hamming(-1, 0)
