"""Shop the look: the garments a photo shows (the garment parser), each answered with its own
lookalikes.

:class:`LookQueries` is the look half of :class:`lookalike.recommend.Recommender` (which
inherits it): it decodes each photo once, parses it (one parser batch for all photos),
encodes every garment's box as a crop (one encoder batch) and searches them as photo queries
(query expansion, distances from the garment's own vector). It holds no state but the
parser, made on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from lookalike.encoders.base import encoder_resize
from lookalike.encoders.queries import decode_each
from lookalike.imaging import Crop, crop_image, letterbox, open_rgb
from lookalike.parsing import WORN_KINDS, Garment, GarmentParser
from lookalike.recommend.filters import Filters
from lookalike.recommend.results import GarmentResult, LookResult

#: Garments answered per photo, at most (the largest first).
MAX_GARMENTS = 6
#: The crops of the smallest garments keep at least the encoder's input size a side: photos
#: are decoded at up to this many times that size.
LOOK_DRAFT_FACTOR = 3


class LookQueries:
    """Shop-the-look queries (a mixin of :class:`lookalike.recommend.Recommender`)."""

    # Provided by the Recommender and PhotoQueries.
    encoder: Any
    _garment_parser: GarmentParser | None = None

    @property
    def garment_parser(self) -> GarmentParser:
        """The shipped garment parser (:mod:`lookalike.parsing`), made on first use."""
        if self._garment_parser is None:
            self._garment_parser = GarmentParser()
        return self._garment_parser

    @garment_parser.setter
    def garment_parser(self, parser: GarmentParser) -> None:
        """Use ``parser`` (e.g. the one a server's previous catalog version warmed up)."""
        self._garment_parser = parser

    def main_garment_boxes(self, images: Sequence[Image.Image]) -> list[Crop | None]:
        """Per decoded photo, the box of the worn garment it is most about (the garment
        parser's largest; :func:`main_index`), None when it finds none."""
        boxes: list[Crop | None] = []
        for garments in self.garment_parser.parse(list(images)):
            worn = [g for g in garments if g.kind in WORN_KINDS]
            boxes.append(worn[main_index(worn)].box if worn else None)
        return boxes

    def recommend_look(
        self,
        sources: Sequence,
        k: int = 10,
        *,
        filters: Filters | None = None,
        collapse_duplicates: bool = True,
        names: Sequence[str] | None = None,
        max_garments: int = MAX_GARMENTS,
        expand: bool = True,
    ) -> list[LookResult]:
        """The garments in each photo, each with ``k`` lookalikes.

        Args:
            sources: photo paths or bytes.
            k: results per garment.
            filters, collapse_duplicates: as for :meth:`recommend_images` (applied to every
                garment's search).
            names: the query names (default: the sources as strings).
            max_garments: garments answered per photo, the largest first (1..).
            expand: query expansion on (as for photo queries).

        Returns:
            One :class:`LookResult` per source: its garments largest first, ``main`` the
            one the photo is most about (the largest worn garment). A photo where no garment
            is found is answered as a whole (one entry of kind ``photo``); an unreadable one
            gets ``error``.
        """
        if max_garments < 1:
            raise ValueError(f"max_garments must be >= 1, got {max_garments}")
        names = list(names) if names is not None else [str(s) for s in sources]
        draft = self.encoder.input_size * LOOK_DRAFT_FACTOR
        decoded, ok, errors = decode_each(
            list(sources), lambda _, source: open_rgb(source, draft_size=draft)
        )
        out = [LookResult(query=name) for name in names]
        for index, message in errors:
            out[index].error = message
        if not ok:
            return out
        parsed = self.garment_parser.parse(decoded)
        size, resize = self.encoder.input_size, encoder_resize(self.encoder)
        views, owners = [], []
        for slot, (image, garments) in enumerate(zip(decoded, parsed, strict=True)):
            chosen = garments[:max_garments] or [Garment("photo", (0.0, 0.0, 1.0, 1.0), 1.0, 1.0)]
            result = out[ok[slot]]
            result.garments = [GarmentResult(g.kind, g.box, g.area, g.score) for g in chosen]
            result.main = main_index(chosen)
            for position, garment in enumerate(chosen):
                view = image if garment.kind == "photo" else crop_image(image, garment.box)
                views.append(letterbox(view, size, resize=resize))
                owners.append((result, position))
        vectors = self.encoder.encode(np.stack(views))
        found = self.search_photos(
            vectors, k, filters=filters, collapse_duplicates=collapse_duplicates, expand=expand
        )
        for (result, position), results in zip(owners, found, strict=True):
            result.garments[position].results = results
        return out


def main_index(garments: Sequence[Garment]) -> int | None:
    """Index of the garment a photo is most about: the largest worn one (area x score),
    else the largest of any kind; None for no garments."""
    if not garments:
        return None
    worn = [i for i, g in enumerate(garments) if g.kind in WORN_KINDS]
    pool = worn or list(range(len(garments)))
    return max(pool, key=lambda i: garments[i].area * garments[i].score)
