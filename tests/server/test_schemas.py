"""The API's shapes: limits, the profile request model, OpenAPI entries and result JSON."""

from __future__ import annotations

import math
import time

import pytest
from pydantic import ValidationError
from starlette.requests import Request

from lookalike.recommend import Recommendation
from lookalike.server import schemas
from lookalike.server.schemas import (
    API_MAX_K,
    BINARY,
    DEFAULT_K,
    DEFAULT_LIMIT,
    ERROR_RESPONSES,
    MAX_LIMIT,
    MAX_OFFSET,
    MAX_PROFILE_ITEMS,
    MAX_USER_LENGTH,
    ErrorBody,
    ProfileRequest,
    Result,
    error_doc,
    item_json,
    item_urls,
    request_body,
    result_json,
    results_json,
)
from tests.server.conftest import ITEM_FIELDS, RESULT_FIELDS
from tests.tolerances import approx


def make_request(root_path: str = "") -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "root_path": root_path})


def rec(item_id: str, rank: int = 1, distance: float = 0.5) -> Recommendation:
    return Recommendation(
        id=item_id,
        distance=distance,
        rank=rank,
        metadata={"Colour": "Red"},
        path=f"/secret/catalog/{item_id}.jpg",
    )


# --- limits -----------------------------------------------------------------------------------
def test_limits_are_consistent():
    assert 1 <= DEFAULT_K <= API_MAX_K
    assert 1 <= DEFAULT_LIMIT <= MAX_LIMIT
    assert MAX_OFFSET == 2**31 - 1  # fits int32
    assert schemas.MAX_FACET_VALUES > 0 and schemas.MAX_PHOTOS > 0


# --- URLs and result JSON ---------------------------------------------------------------------
def test_item_urls_quote_the_id_and_honour_the_root_path():
    assert item_urls(make_request(), "101") == {
        "image_url": "/api/items/101/image",
        "thumbnail_url": "/api/items/101/thumbnail",
    }
    urls = item_urls(make_request("/shop"), "a/b c?#")
    assert urls["image_url"] == "/shop/api/items/a%2Fb%20c%3F%23/image"
    assert urls["thumbnail_url"] == "/shop/api/items/a%2Fb%20c%3F%23/thumbnail"


def test_item_json_hides_the_file_path():
    body = item_json(make_request(), rec("101"))
    assert set(body) == ITEM_FIELDS
    assert body["id"] == "101" and body["metadata"] == {"Colour": "Red"}
    assert "secret" not in str(body)
    schemas.Item(**body)  # matches the documented model


def test_result_json_carries_rank_and_distance():
    body = result_json(make_request(), rec("7", rank=3, distance=0.25))
    assert set(body) == RESULT_FIELDS
    assert body["rank"] == 3 and body["distance"] == approx(0.25)
    assert "secret" not in str(body)
    Result(**body)


def test_results_json_keeps_order_and_times_the_request():
    started = time.perf_counter() - 0.05
    body = results_json(make_request(), [rec("2", 1), rec("1", 2)], started)
    assert [r["id"] for r in body["results"]] == ["2", "1"]
    assert [r["rank"] for r in body["results"]] == [1, 2]
    assert 50 <= body["took_ms"] < 60_000
    assert body["took_ms"] == round(body["took_ms"], 2)
    assert results_json(make_request(), iter([]), time.perf_counter())["results"] == []


# --- OpenAPI entries --------------------------------------------------------------------------
def test_error_doc_and_shared_error_entries():
    assert error_doc("gone") == {"model": ErrorBody, "description": "gone"}
    assert set(ERROR_RESPONSES) == {404, 422}
    for entries, codes in (
        (schemas.UPLOAD_ERRORS, {413, 415}),
        (schemas.KEY_ERRORS, {401, 403}),
        (schemas.BUSY_ERROR, {503}),
    ):
        assert set(entries) == codes
        assert all(entry["model"] is ErrorBody for entry in entries.values())


def test_request_body_form_only():
    extra = request_body({"image": BINARY}, required=["image"], additionalProperties=False)
    body = extra["requestBody"]
    assert body["required"] is True
    assert list(body["content"]) == ["multipart/form-data"]
    assert body["content"]["multipart/form-data"]["schema"] == {
        "type": "object",
        "required": ["image"],
        "properties": {"image": {"type": "string", "format": "binary"}},
        "additionalProperties": False,
    }


def test_request_body_with_json_and_no_required_fields():
    extra = request_body({"k": {"type": "integer"}}, json_schema={"$ref": "#/x"})
    content = extra["requestBody"]["content"]
    assert content["application/json"] == {"schema": {"$ref": "#/x"}}
    assert "required" not in content["multipart/form-data"]["schema"]


def test_request_body_is_a_copy_of_the_shared_pieces():
    extra = request_body({"image": BINARY})
    extra["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["image"][
        "format"
    ] = "changed"
    assert BINARY == {"type": "string", "format": "binary"}


# --- ProfileRequest ---------------------------------------------------------------------------
def test_profile_request_defaults():
    request = ProfileRequest()
    assert request.liked == [] and request.disliked == []
    assert request.k == DEFAULT_K and request.method == "fusion"
    assert request.diversity == approx(0.0) and request.filters == {}
    assert request.user is None and request.ignore_unknown is False


def test_profile_request_normalises_ids_and_filters():
    request = ProfileRequest(liked=[101, "102"], disliked=None, filters={"Colour": "Red"})
    assert request.liked == ["101", "102"]
    assert request.disliked == []
    assert request.filters == {"Colour": ["Red"]}
    assert ProfileRequest(filters=None).filters == {}
    assert ProfileRequest(filters={"A": ["x", "y"]}).filters == {"A": ["x", "y"]}


def test_profile_request_does_not_turn_booleans_into_ids():
    with pytest.raises(ValidationError):
        ProfileRequest(liked=[True])


@pytest.mark.parametrize(
    "fields",
    [
        {"k": 0},
        {"k": API_MAX_K + 1},
        {"method": "median"},
        {"diversity": -0.1},
        {"diversity": 1.5},
        {"diversity": math.nan},
        {"user": "u" * (MAX_USER_LENGTH + 1)},
        {"liked": ["1"] * (MAX_PROFILE_ITEMS + 1)},
        {"unexpected": 1},
    ],
)
def test_profile_request_rejects_bad_fields(fields):
    with pytest.raises(ValidationError):
        ProfileRequest(**fields)


def test_profile_request_accepts_the_limits():
    request = ProfileRequest(
        k=API_MAX_K,
        method="mean",
        diversity=1.0,
        user="u" * MAX_USER_LENGTH,
        liked=["1"] * MAX_PROFILE_ITEMS,
    )
    assert request.k == API_MAX_K and len(request.liked) == MAX_PROFILE_ITEMS
