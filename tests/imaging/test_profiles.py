"""Tests for lookalike.imaging.profiles (to_srgb) and open_rgb's use of it."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image, ImageCms

from lookalike.imaging import open_rgb
from lookalike.imaging.profiles import to_srgb
from tests.imaging.conftest import assert_close, pixel

# Display P3's primaries adapted to D50 (the ICC connection space), gamma 2.2.
P3_PRIMARIES = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))
ORANGE = (200, 100, 50)
# ORANGE in that space, shown in sRGB by LittleCMS (relative colorimetric): a wider gamut's
# orange is more saturated than the same numbers read as sRGB.
ORANGE_IN_SRGB = (216, 93, 24)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def matrix_profile(name: str, primaries=P3_PRIMARIES, gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 RGB display profile (matrix and gamma curves) named ``name``."""
    text = name.encode("ascii") + b"\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 2 + 1 + 67)
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256))
    tags = [
        (b"desc", desc),
        (b"wtpt", b"XYZ " + bytes(4) + _s15(0.9642) + _s15(1.0) + _s15(0.8249)),
        *(
            (sig, b"XYZ " + bytes(4) + b"".join(map(_s15, xyz)))
            for sig, xyz in zip((b"rXYZ", b"gXYZ", b"bXYZ"), primaries, strict=True)
        ),
        *((sig, curve) for sig in (b"rTRC", b"gTRC", b"bTRC")),
        (b"cprt", b"text" + bytes(4) + b"none\0"),
    ]
    start = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        body += bytes(-len(body) % 4)
        table += sig + struct.pack(">II", start + len(data), len(body))
        data += body
    header = (
        struct.pack(">I", start + len(data))
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + bytes(12)
        + b"acsp"
        + bytes(4 * 4 + 8 + 4)
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + bytes(4 + 16 + 28)
    )
    return header + struct.pack(">I", len(tags)) + table + data


def saved(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_a_wide_gamut_photo_is_shown_in_srgb():
    photo = Image.new("RGB", (16, 12), ORANGE)
    for fmt, kwargs in (("PNG", {}), ("JPEG", {"quality": 98})):
        data = saved(photo, fmt, icc_profile=matrix_profile("Wide test"), **kwargs)
        assert_close(pixel(open_rgb(data), (8, 6)), ORANGE_IN_SRGB, 3)


def test_srgb_profiles_and_no_profile_leave_pixels_as_they_are():
    photo = Image.new("RGB", (16, 12), ORANGE)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for icc in (srgb, matrix_profile("sRGB IEC61966-2.1"), None):
        data = saved(photo, "PNG", **({"icc_profile": icc} if icc else {}))
        assert pixel(open_rgb(data), (8, 6)) == ORANGE


@pytest.mark.parametrize(
    "icc",
    [b"not a profile at all", matrix_profile("Wide test")[:100]],
    ids=["garbage", "truncated"],
)
def test_a_broken_profile_is_ignored_not_an_error(icc):
    image = Image.new("RGB", (4, 4), ORANGE)
    image.info["icc_profile"] = icc
    assert to_srgb(image) is image


def test_a_profile_of_another_colour_space_is_ignored():
    cmyk = Image.new("CMYK", (4, 4), (0, 128, 200, 0))
    cmyk.info["icc_profile"] = matrix_profile("Wide test")  # an RGB profile on CMYK pixels
    assert to_srgb(cmyk) is cmyk


def test_rgba_keeps_its_alpha_and_other_modes_pass_through():
    rgba = Image.new("RGBA", (4, 4), (*ORANGE, 128))
    rgba.info["icc_profile"] = matrix_profile("Wide test")
    converted = to_srgb(rgba)
    assert converted.mode == "RGBA"
    assert_close(np.asarray(converted)[0, 0], (*ORANGE_IN_SRGB, 128), 3)
    grey = Image.new("L", (4, 4), 90)
    grey.info["icc_profile"] = matrix_profile("Wide test")
    assert to_srgb(grey) is grey
