"""The app state (server/state.py): filter names, the interaction log setting."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from starlette.requests import Request

from lookalike.recommend import FilterError
from lookalike.server.state import (
    ServedCatalog,
    ServerState,
    same_encoder,
    state_of,
    use_interactions,
)
from lookalike.server.thumbnails import ThumbnailCache


def test_use_interactions_needs_a_file(app_factory, tmp_path):
    app = app_factory(thumbnail_dir=tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        use_interactions(app, tmp_path / "missing.csv")


def served(tmp_path, columns: list[str]) -> ServedCatalog:
    """A served catalog over a stand-in recommender with these metadata columns."""
    return ServedCatalog(SimpleNamespace(metadata_columns=columns), ThumbnailCache(tmp_path), 1)


def query(string: str) -> Request:
    return Request({"type": "http", "query_string": string.encode()})


def test_filter_names_match_columns_ignoring_case_when_unambiguous(tmp_path):
    cat = served(tmp_path, ["Colour", "colour", "Gender", "ProductType"])
    # Exact names always win, even beside a column that differs only in case.
    assert cat.column_named("Colour") == "Colour" and cat.column_named("colour") == "colour"
    assert cat.column_named("gender") == "Gender"
    assert cat.column_named("PRODUCTTYPE") == "ProductType"
    with pytest.raises(FilterError, match="ambiguous filter column 'COLOUR'.*Colour, colour"):
        cat.column_named("COLOUR")
    with pytest.raises(FilterError) as info:
        cat.column_named("Fabric")
    assert str(info.value) == (
        "unknown filter column 'Fabric'; columns: Colour, Gender, ProductType, colour"
    )


def test_filters_from_the_query_string(tmp_path):
    cat = served(tmp_path, ["Colour", "Gender"])
    filters = cat.filters(query("gender=Women&k=3&Gender=Men&GENDER=women&colour=%20"), {"k"})
    assert filters == {"Gender": ["Women", "Men", "women"]}  # blank values dropped
    with pytest.raises(FilterError, match="'k'"):
        cat.filters(query("k=3"), reserved=())


def test_same_encoder_compares_encoder_files_only():
    a = {"files": {"encoder/model.safetensors": "s1", "items.jsonl": "x"}}
    b = {"files": {"encoder/model.safetensors": "s1", "items.jsonl": "y"}}
    c = {"files": {"encoder/model.safetensors": "s2"}}
    assert same_encoder(a, b) and not same_encoder(a, c)
    assert not same_encoder({}, {})  # no encoder files listed: never assumed equal


def test_create_app_keeps_its_state_on_the_app(app_factory, tmp_path):
    app = app_factory(thumbnail_dir=tmp_path, max_upload_bytes=1234, api_key="k", api_key_env=None)
    state = state_of(app)
    assert isinstance(state, ServerState)
    assert state.live is app.state.live and state.live.catalog is app.state.catalog
    assert state.max_upload_bytes == 1234 and state.api_key == "k"
    assert state.thumbnails is app.state.catalog.thumbnails and state.interactions is None
