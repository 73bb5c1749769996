"""Photo queries: a shopper's photos encoded with the bundle's encoder (crop, garment focus),
moved towards their nearest catalog photos (query expansion), searched, and their distances
restated from the photo itself.

:class:`PhotoQueries` is the photo half of :class:`lookalike.recommend.Recommender` (which
inherits it): the glue between :mod:`lookalike.encoders.queries`,
:mod:`lookalike.expansion` and the recommender's search. It holds no state of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from lookalike.dedup import NEAR_COLLAPSE_FRACTION
from lookalike.encoders.queries import (
    decode_for_focus,
    encode_focused,
    encode_images,
    encode_photos,
    focuses,
)
from lookalike.expansion import EXPANSION_MIN_PHOTOS, EXPANSION_NEIGHBOURS, expand_queries
from lookalike.imaging import Crop
from lookalike.recommend.filters import Filters
from lookalike.recommend.results import QueryResult, Recommendation

if TYPE_CHECKING:
    from lookalike.bundle import PhotoTable


class PhotoQueries:
    """Queries by photo, over the recommender's encoder, photos and search (a mixin of
    :class:`lookalike.recommend.Recommender`)."""

    # Provided by the Recommender.
    encoder: Any
    photos: PhotoTable
    photo_embeddings: np.ndarray
    typical_distance: float
    grouped: bool

    # --- encoding (lookalike.encoders.queries, with this bundle's encoder) -------------------
    @property
    def focuses(self) -> bool:
        """Whether photo queries get the garment focus (the encoder reports a confidence)."""
        return focuses(self.encoder)

    def encode_photos(
        self,
        sources: Sequence,
        crop: Crop | Sequence[Crop | None] | None = None,
        *,
        focus: bool = True,
        garment_focus: bool = True,
    ) -> tuple[np.ndarray, list[int], list[tuple[int, str]], list[Crop | None]]:
        """:meth:`encode_images`, plus per readable source the region the vector describes
        (the garment focus with ``focus``; the garment parser's main garment first with
        ``garment_focus``): :func:`lookalike.encoders.queries.encode_photos`."""
        finder = self.main_garment_boxes if garment_focus else None
        return encode_photos(self.encoder, sources, crop, focus=focus, find_garment=finder)

    def decode_for_focus(self, source: Any) -> Image.Image:
        """A photo decoded for :meth:`encode_focused`
        (:func:`lookalike.encoders.queries.decode_for_focus`). Raises ImageDecodeError."""
        return decode_for_focus(self.encoder, source)

    def encode_focused(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, list[Crop | None]]:
        """Vectors of decoded photos with the garment focus, and the region each describes
        (:func:`lookalike.encoders.queries.encode_focused`)."""
        return encode_focused(self.encoder, images)

    def encode_images(
        self, sources: Sequence, crop: Crop | Sequence[Crop | None] | None = None
    ) -> tuple[np.ndarray, list[int], list[tuple[int, str]]]:
        """Decode + encode image files/bytes in one batch, no garment focus
        (:func:`lookalike.encoders.queries.encode_images`): (vectors of the readable
        sources, their indices, errors as (index, message)). Raises CropError."""
        return encode_images(self.encoder, sources, crop)

    def expand_photo_queries(self, vectors: np.ndarray) -> np.ndarray:
        """Photo query vectors moved towards their nearest catalog photos
        (:func:`lookalike.expansion.expand_queries`; one more unfiltered search).

        A photo whose nearest catalog photo is a near-identical match (the ``same`` match
        word) is left as it is, and so is every photo in a catalog of fewer than
        :data:`~lookalike.expansion.EXPANSION_MIN_PHOTOS` photos.

        Args:
            vectors: float32 (q, dim) encoded photos (not catalog items' own vectors).

        Returns:
            float32 (q, dim).
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.encoder.dim)
        if len(self.photos) < EXPANSION_MIN_PHOTOS or not len(vectors):
            return vectors
        distances, _, photo_rows = self.nearest_products(vectors, EXPANSION_NEIGHBOURS)
        return expand_queries(
            vectors,
            distances,
            photo_rows,
            self.photo_embeddings,
            keep_within=NEAR_COLLAPSE_FRACTION * self.typical_distance,
        )

    def search_photos(
        self,
        vectors: np.ndarray,
        k: int = 10,
        *,
        filters: Filters | None = None,
        collapse_duplicates: bool = True,
        expand: bool = True,
    ) -> list[list[Recommendation]]:
        """:meth:`search` for encoded photos: with ``expand``, ranked by each vector moved
        towards its nearest catalog photos (:meth:`expand_photo_queries`), each moved query's
        results then restated as distances from the photo itself (:meth:`measure_from`).

        Args:
            vectors: float32 (q, dim) encoded photos.
            k, filters, collapse_duplicates: as for :meth:`search`.
            expand: query expansion on.

        Returns:
            Per photo, up to ``k`` recommendations in ranked order.
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.encoder.dim)
        ranking = self.expand_photo_queries(vectors) if expand else vectors
        found = self.search(ranking, k, filters=filters, collapse_duplicates=collapse_duplicates)
        moved = np.flatnonzero((ranking != vectors).any(axis=1))
        self.measure_from(vectors[moved], [found[i] for i in moved])
        return found

    def measure_from(self, vectors: np.ndarray, found: Sequence[list[Recommendation]]) -> None:
        """Set each result's ``distance`` and ``match`` to the Euclidean distance from its
        query's vector to the result's matched photo (in place): what a photo query shows
        after ranking with an expanded vector, so that the words say how close the item is
        to the shopper's photo, not to the expanded query.

        Args:
            vectors: float32 (q, dim), one per list in ``found``.
            found: per query, the recommendations to restate.
        """
        for vector, results in zip(np.asarray(vectors, np.float32), found, strict=True):
            if not results:
                continue
            rows = [self.photo_row(r.id, r.photo) if self.grouped else self.row(r.id)
                    for r in results]  # fmt: skip
            stored = np.asarray(self.photo_embeddings[np.asarray(rows)], np.float32)
            for result, distance in zip(
                results, np.linalg.norm(stored - vector, axis=1).tolist(), strict=True
            ):
                result.distance = round(float(distance), 6)
                result.match = self.match_word(float(distance))

    # --- queries ----------------------------------------------------------------------------
    def recommend_images(
        self,
        sources: Sequence,
        k: int = 10,
        *,
        filters: Filters | None = None,
        collapse_duplicates: bool = True,
        names: Sequence[str] | None = None,
        crop: Crop | Sequence[Crop | None] | None = None,
        focus: bool = True,
        expand: bool = True,
        garment_focus: bool = True,
    ) -> list[QueryResult]:
        """Lookalikes for each image (path or bytes); one model pass for all of them.

        ``crop`` = (x, y, w, h), fractions of the photo's width and height: the shopper's
        choice of the garment to match (one for every image, or one per image; None = the
        whole photo). Without a crop, ``focus`` lets the encoder look again at the garment
        in photos it is unsure about (:meth:`encode_photos`); each result's ``crop`` names
        the region answered. ``expand`` ranks with each photo's vector moved towards its
        nearest catalog photos (:meth:`expand_photo_queries`); each result's ``distance`` and
        ``match`` still say how far the item's matched photo is from the photo itself
        (:meth:`measure_from`), so they may be out of order by a little. Unreadable images get a
        QueryResult with ``error`` set instead of raising; a bad crop raises CropError (a
        ValueError) before anything is decoded. With ``garment_focus``, a photo the encoder is
        unsure about is answered from the garment it is most about when the garment parser
        finds one (a street photo of a dress answers dresses; :meth:`main_garment_boxes`).
        """
        names = list(names) if names is not None else [str(s) for s in sources]
        vectors, ok, errors, regions = self.encode_photos(
            sources, crop, focus=focus, garment_focus=garment_focus
        )
        out = [QueryResult(query=name) for name in names]
        for index, message in errors:
            out[index].error = message
        if ok:
            found = self.search_photos(
                vectors, k, filters=filters, collapse_duplicates=collapse_duplicates, expand=expand
            )
            for index, results, region in zip(ok, found, regions, strict=True):
                out[index].results = results
                out[index].crop = region
        return out
