"""Tests for lookalike.imaging.decode (open_rgb): colour modes, sources, failures, draft mode."""

from __future__ import annotations

import io
import random
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from lookalike.imaging import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    ImageDecodeError,
    letterbox,
    load_image,
    open_rgb,
)
from tests.imaging.conftest import (
    BLUE,
    GREEN,
    RED,
    WHITE,
    assert_close,
    encode,
    noise_image,
    pixel,
    png_with_declared_size,
    save,
    solid,
)

# --- constants and error type --------------------------------------------------------------


def test_constants_and_error_type():
    assert DEFAULT_MAX_PIXELS == 40_000_000
    assert {
        ".jpg",
        ".jpeg",
        ".png",
        ".webp",
        ".gif",
        ".bmp",
        ".heic",
        ".heif",
        ".avif",
    } == IMAGE_EXTENSIONS
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


def test_a_drafted_jpeg_is_measured_at_the_scale_it_decodes_at(tmp_path):
    """A 42 MP phone JPEG (over the 40 MP limit) is read when drafted to 1/8 of each side,
    refused at full size, and refused drafted when even its reduced size is over a limit."""
    path = tmp_path / "hi-res.jpg"
    Image.new("RGB", (7200, 5800), GREEN).save(path, quality=50)
    drafted = open_rgb(path, draft_size=320)
    assert drafted.size == (900, 725)
    assert_close(pixel(drafted, (450, 360)), GREEN, 4)
    with pytest.raises(ImageDecodeError, match="over the 40,000,000-pixel limit"):
        open_rgb(path)
    with pytest.raises(ImageDecodeError, match=r"even at reduced scale \(declared 7200x5800\)"):
        open_rgb(path, draft_size=320, max_pixels=500_000)


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


# --- containers whose images are bigger than their headers say (issue 15) ----------------------
def _png_bytes(width: int, height: int, declared: tuple[int, int] | None = None) -> bytes:
    import struct
    import zlib

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    if declared is not None:
        data[16:24] = struct.pack(">II", *declared)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _ico(payload: bytes, directory_size: int = 0) -> bytes:
    import struct

    entry = struct.pack("<BBBBHHII", directory_size, directory_size, 0, 0, 1, 32, len(payload), 22)
    return struct.pack("<HHH", 0, 1, 1) + entry + payload


def test_ico_with_a_huge_embedded_png_is_refused_before_pillow_opens_it():
    from lookalike.imaging.decode import embedded_frame_sizes

    bomb = _ico(_png_bytes(1, 1, declared=(13000, 13000)), directory_size=0)  # "256x256"
    assert embedded_frame_sizes(io.BytesIO(bomb)) == ("ICO", [(13000, 13000)])
    started = time.perf_counter()
    with pytest.raises(ImageDecodeError) as info:
        open_rgb(bomb)
    assert time.perf_counter() - started < 0.5  # nothing was decoded
    message = str(info.value)
    assert "ICO container holds a 13000x13000" in message and "refused before decoding" in message


def test_ico_within_the_limit_decodes_at_its_real_size():
    image = open_rgb(_ico(_png_bytes(40, 30), directory_size=16))
    assert image.size == (40, 30)


def test_a_frame_decoded_bigger_than_declared_is_refused_with_a_true_message(monkeypatch):
    """The check after decoding: a format whose header understates its size (simulated by
    switching the checks before decoding off) is refused, and the message says it decoded."""
    from lookalike.imaging import decode

    monkeypatch.setattr(decode, "_check_size", lambda *args: None)
    monkeypatch.setattr(decode, "_check_embedded", lambda *args: None)
    with pytest.raises(ImageDecodeError) as info:
        open_rgb(_png_bytes(100, 80), max_pixels=5000)
    message = str(info.value)
    assert "decoded to 100x80 = 8,000 pixels" in message and "before decoding" not in message


# --- HEIC (pi-heif) and AVIF (Pillow) ------------------------------------------------------

HEIC_DIR = Path(__file__).resolve().parents[1] / "data" / "heic"
# tests/data/heic/make_heic.py's blocks; HEVC at quality 90 moves flat colours by a few levels.
HEIC_RED, HEIC_GREEN, HEIC_BLUE = (220, 30, 30), (30, 200, 30), (30, 30, 220)
HEIC_TOL = 12


def test_heic_photo_decodes_to_its_colours_from_a_path_and_from_bytes():
    path = HEIC_DIR / "blocks.heic"
    for source in (path, path.read_bytes()):
        img = open_rgb(source)
        assert img.mode == "RGB" and img.size == (64, 48)
        assert_close(pixel(img, (5, 2)), HEIC_GREEN, HEIC_TOL)
        assert_close(pixel(img, (5, 40)), HEIC_RED, HEIC_TOL)
        assert_close(pixel(img, (60, 40)), HEIC_BLUE, HEIC_TOL)


def test_rotated_heic_is_upright_and_turned_once():
    img = open_rgb(HEIC_DIR / "blocks-rotated.heic")
    # Turned 90 degrees clockwise: red on top, blue below, the green band on the right.
    assert img.size == (48, 64)
    assert_close(pixel(img, (5, 5)), HEIC_RED, HEIC_TOL)
    assert_close(pixel(img, (5, 60)), HEIC_BLUE, HEIC_TOL)
    assert_close(pixel(img, (45, 30)), HEIC_GREEN, HEIC_TOL)


def test_heic_without_pi_heif_names_the_missing_decoder(tmp_path):
    """A fresh interpreter where ``import pi_heif`` fails: the message says what to install."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['pi_heif'] = None\n"
        "from lookalike.imaging import ImageDecodeError, enable_heif, open_rgb\n"
        "assert enable_heif() is False\n"
        "try:\n"
        f"    open_rgb({str(HEIC_DIR / 'blocks.heic')!r})\n"
        "except ImageDecodeError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "blocks.heic" in out and "HEIC" in out and "pip install pi-heif" in out


def test_truncated_heic_is_called_corrupt_not_missing_a_decoder():
    data = (HEIC_DIR / "blocks.heic").read_bytes()
    with pytest.raises(ImageDecodeError, match="corrupt or truncated HEIC"):
        open_rgb(data[:40])


def test_avif_photo_decodes(tmp_path):
    path = tmp_path / "photo.avif"
    Image.fromarray(np.full((24, 32, 3), RED, np.uint8)).save(path, quality=95)
    img = open_rgb(path)
    assert img.size == (32, 24)
    assert_close(pixel(img, (16, 12)), RED, HEIC_TOL)
