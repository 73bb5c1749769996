"""Where ``POST /api/recommend/profile`` used to live; it is now
:mod:`lookalike.server.routes.profile` (the route and its request parsing),
:mod:`lookalike.server.schemas` (its models) and :mod:`lookalike.server.state`
(:func:`use_interactions`). The old names stay importable from here."""

from __future__ import annotations

from lookalike.server.interactions import InteractionSource
from lookalike.server.routes.profile import (
    MAX_FILTER_VALUES,
    MAX_JSON_BYTES,
    PROFILE_PATH,
    ParsedRequest,
    Photo,
    clean_filters,
    encode_photos,
    read_json_request,
    read_multipart_request,
    read_profile_request,
    rows_of,
    unknown_ids,
    unknown_items_error,
)
from lookalike.server.schemas import (
    MAX_PHOTOS,
    MAX_PROFILE_ITEMS,
    MAX_USER_LENGTH,
    ProfileQueryInfo,
    ProfileRecommendations,
    ProfileRequest,
)
from lookalike.server.state import use_interactions

__all__ = [
    "MAX_FILTER_VALUES",
    "MAX_JSON_BYTES",
    "MAX_PHOTOS",
    "MAX_PROFILE_ITEMS",
    "MAX_USER_LENGTH",
    "PROFILE_PATH",
    "InteractionSource",
    "ParsedRequest",
    "Photo",
    "ProfileQueryInfo",
    "ProfileRecommendations",
    "ProfileRequest",
    "clean_filters",
    "encode_photos",
    "read_json_request",
    "read_multipart_request",
    "read_profile_request",
    "rows_of",
    "unknown_ids",
    "unknown_items_error",
    "use_interactions",
]
