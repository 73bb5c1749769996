"""Writes the HEIC test photos in this folder (run once; they are committed).

Needs an HEIF *encoder*, which lookalike does not depend on: ``pip install pillow-heif``
(1.9.0 made these), then ``python tests/data/heic/make_heic.py``. Three colour blocks on a
64 x 48 photo: green across the top, red on the left, blue on the right.

- ``blocks.heic``: the photo as it is.
- ``blocks-rotated.heic``: the same pixels saved with EXIF orientation 6 ("turn 90 degrees
  clockwise to show"); pillow-heif stores that as the file's rotation, so an upright decode
  is 48 x 64 with red on top.
"""

from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image

RED, GREEN, BLUE = (220, 30, 30), (30, 200, 30), (30, 30, 220)


def main() -> None:
    """Write both photos beside this script."""
    pillow_heif.register_heif_opener()
    pixels = np.zeros((48, 64, 3), np.uint8)
    pixels[:, :32] = RED
    pixels[:, 32:] = BLUE
    pixels[:12] = GREEN
    photo = Image.fromarray(pixels)
    here = Path(__file__).parent
    photo.save(here / "blocks.heic", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6
    photo.save(here / "blocks-rotated.heic", quality=90, exif=exif.tobytes())


if __name__ == "__main__":
    main()
