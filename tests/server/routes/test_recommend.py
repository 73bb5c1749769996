"""POST /api/recommend (a photo) and GET /api/items/{id}/similar (an item) over the tiny bundle
(24 items: 3 shapes x 4 colours x 2 variants)."""

from __future__ import annotations

import asyncio

import pytest

from tests.server.conftest import RESULT_FIELDS, assert_error, upload


# --- POST /api/recommend ---------------------------------------------------------------------
def test_recommend_photo(client, red_circle):
    response = upload(client, red_circle, query="?k=5")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"] == {
        "type": "image",
        "filename": "photo.jpg",
        "item": None,
        "k": 5,
        "filters": {},
        "crop": None,
    }
    results = body["results"]
    assert [r["rank"] for r in results] == [1, 2, 3, 4, 5]
    assert all(set(r) == RESULT_FIELDS for r in results)
    distances = [r["distance"] for r in results]
    assert distances == sorted(distances)
    assert results[0]["id"] == "101"  # the catalog photo itself is its nearest item
    assert results[0]["thumbnail_url"] == "/api/items/101/thumbnail"
    assert body["took_ms"] >= 0


def test_recommend_heic_photo_answers_as_its_pixels_do(client):
    """An iPhone's HEIC photo (image/heic, which Chrome sends undecoded) is decoded by the
    server: the same answer as its decoded pixels uploaded as a PNG."""
    import io
    from pathlib import Path

    from lookalike.imaging import open_rgb

    heic = (Path(__file__).resolve().parents[2] / "data" / "heic" / "blocks.heic").read_bytes()
    png = io.BytesIO()
    open_rgb(heic).save(png, "PNG")
    as_heic = upload(client, heic, name="IMG_0001.HEIC", ctype="image/heic", query="?k=5")
    as_png = upload(client, png.getvalue(), name="same.png", ctype="image/png", query="?k=5")
    assert as_heic.status_code == 200, as_heic.text
    assert as_heic.json()["query"]["filename"] == "IMG_0001.HEIC"
    ids = [[r["id"] for r in response.json()["results"]] for response in (as_heic, as_png)]
    assert ids[0] == ids[1] and len(ids[0]) == 5


def test_recommend_default_k(client, red_circle):
    assert len(upload(client, red_circle).json()["results"]) == 10


def test_recommend_filter_gives_k_matches(client, red_circle):
    # 6 red items exist; a filtered search must still fill k=5 with reds.
    results = upload(client, red_circle, query="?k=5&Colour=Red").json()["results"]
    assert len(results) == 5
    assert all(r["metadata"]["Colour"] == "Red" for r in results)


def test_recommend_far_filter_still_fills_k(client, red_circle):
    # Blue items are far from a red circle: they are found all the same.
    results = upload(client, red_circle, query="?k=6&Colour=Blue").json()["results"]
    assert len(results) == 6
    assert {r["metadata"]["Colour"] for r in results} == {"Blue"}


def test_recommend_several_values_and_columns(client, red_circle):
    body = upload(client, red_circle, query="?k=12&Colour=Red&Colour=blue").json()
    assert len(body["results"]) == 12
    assert {r["metadata"]["Colour"] for r in body["results"]} == {"Red", "Blue"}
    assert body["query"]["filters"] == {"Colour": ["Red", "blue"]}
    # Columns combine with AND: 3 red items for women; k=10 returns only those.
    results = upload(client, red_circle, query="?k=10&Colour=Red&Gender=Women").json()["results"]
    assert len(results) == 3
    assert all(r["metadata"]["Gender"] == "Women" for r in results)


def test_recommend_text_file_is_415(client):
    body = assert_error(
        upload(client, b"just some notes\n", name="notes.txt", ctype="text/plain"),
        415,
        "unsupported_media_type",
        "notes.txt",
        "not an image",
    )
    assert "text/plain" in body["detail"]


def test_recommend_text_named_jpeg_is_422(client):
    assert_error(
        upload(client, b"<html><body>404</body></html>", name="fake.jpg"),
        422,
        "invalid_image",
        "fake.jpg",
        "html",
    )


def test_recommend_truncated_jpeg_is_422(client, red_circle):
    assert_error(
        upload(client, red_circle[: len(red_circle) // 2], name="cut.jpg"),
        422,
        "invalid_image",
        "cut.jpg",
        "truncated",
    )


def test_recommend_empty_file_is_422(client):
    assert_error(upload(client, b"", name="empty.jpg"), 422, "invalid_image", "empty")


def test_recommend_needs_multipart_image_field(client, red_circle):
    assert_error(
        client.post("/api/recommend", json={"image": "x"}),
        415,
        "unsupported_media_type",
        "multipart",
    )
    assert_error(
        client.post("/api/recommend", files={"photo": ("a.jpg", red_circle, "image/jpeg")}),
        422,
        "missing_image",
        "image",
    )
    assert_error(
        client.post("/api/recommend", data={"image": "not a file"}, files={"x": ("", b"")}),
        422,
        "missing_image",
    )


@pytest.mark.parametrize("k", ["0", "101", "-3", "ten"])
def test_recommend_bad_k_is_422(client, red_circle, k):
    body = assert_error(upload(client, red_circle, query=f"?k={k}"), 422, "invalid_parameter", "k")
    assert body["errors"][0]["loc"] == ["query", "k"]


def test_recommend_unknown_filter_column_is_422(client, red_circle):
    assert_error(
        upload(client, red_circle, query="?Fabric=Silk"), 422, "invalid_filter", "Fabric", "Colour"
    )


def test_recommend_runs_in_worker_thread(client, recommender, red_circle, monkeypatch):
    seen = {}
    original = recommender.recommend_images

    def spy(*args, **kwargs):
        try:
            asyncio.get_running_loop()
            seen["in_loop"] = True
        except RuntimeError:
            seen["in_loop"] = False
        return original(*args, **kwargs)

    monkeypatch.setattr(recommender, "recommend_images", spy)
    assert upload(client, red_circle, query="?k=2").status_code == 200
    assert seen["in_loop"] is False


# --- similar ------------------------------------------------------------------------------------
def test_similar(client):
    body = client.get("/api/items/101/similar?k=5").json()
    assert body["query"]["type"] == "item" and body["query"]["item"]["id"] == "101"
    ids = [r["id"] for r in body["results"]]
    assert len(ids) == 5 and "101" not in ids
    assert [r["rank"] for r in body["results"]] == [1, 2, 3, 4, 5]


def test_similar_filtered(client):
    # 6 reds, minus the query item itself: 5 are left even when asking for 10.
    results = client.get("/api/items/101/similar?k=10&Colour=Red").json()["results"]
    assert len(results) == 5 and "101" not in {r["id"] for r in results}
    assert {r["metadata"]["Colour"] for r in results} == {"Red"}
    results = client.get("/api/items/101/similar?k=4&Colour=Black").json()["results"]
    assert len(results) == 4 and {r["metadata"]["Colour"] for r in results} == {"Black"}


def test_similar_bad_parameters(client):
    assert_error(client.get("/api/items/101/similar?k=101"), 422, "invalid_parameter")
    assert_error(client.get("/api/items/101/similar?Size=M"), 422, "invalid_filter", "Size")


# --- filter names -------------------------------------------------------------------------------
def test_filter_names_match_columns_ignoring_case(client, red_circle):
    exact = upload(client, red_circle, query="?k=5&Colour=Red").json()
    lower = upload(client, red_circle, query="?k=5&colour=Red").json()
    assert lower["query"]["filters"] == {"Colour": ["Red"]}
    assert [r["id"] for r in lower["results"]] == [r["id"] for r in exact["results"]]
    # Both spellings of one column are one filter (either value matches).
    both = upload(client, red_circle, query="?k=12&Colour=Red&colour=Blue").json()
    assert both["query"]["filters"] == {"Colour": ["Red", "Blue"]}
    assert {r["metadata"]["Colour"] for r in both["results"]} == {"Red", "Blue"}


def test_similar_filter_names_match_columns_ignoring_case(client):
    body = client.get("/api/items/101/similar?k=4&COLOUR=black&gender=Women").json()
    assert body["query"]["filters"] == {"Colour": ["black"], "Gender": ["Women"]}
    found = {(r["metadata"]["Colour"], r["metadata"]["Gender"]) for r in body["results"]}
    assert len(body["results"]) == 3 and found == {("Black", "Women")}
    assert_error(client.get("/api/items/101/similar?colur=Red"), 422, "invalid_filter", "colur")


# --- allow_duplicates ------------------------------------------------------------------------
def test_allow_duplicates_is_a_flag_not_a_filter(client, red_circle):
    for query in ("?k=5&allow_duplicates=true", "?k=5&allow_duplicates=false"):
        response = upload(client, red_circle, query=query)
        assert response.status_code == 200, response.text
        assert response.json()["query"]["filters"] == {}
    similar = client.get("/api/items/101/similar?k=5&allow_duplicates=1")
    assert similar.status_code == 200, similar.text
    assert similar.json()["query"]["filters"] == {}
    results = similar.json()["results"]
    assert {r["match"] for r in results} <= {"same", "close", "similar", "distant"}
    assert all(r["duplicates"] == [] for r in results)
    assert_error(
        client.get("/api/items/101/similar?allow_duplicates=maybe"), 422, "invalid_parameter"
    )


# --- POST /api/recommend?look=true (shop the look) ------------------------------------------
def test_look_answers_every_garment_and_the_main_one_as_results(client, red_circle):
    response = upload(client, red_circle, query="?k=3&look=true")
    assert response.status_code == 200, response.text
    body = response.json()
    garments, main = body["garments"], body["main"]
    assert garments and 0 <= main < len(garments)
    for garment in garments:
        assert set(garment) == {"kind", "box", "area", "score", "results"}
        assert len(garment["results"]) == 3 and len(garment["box"]) == 4
        assert all(set(r) == RESULT_FIELDS for r in garment["results"])
    assert body["results"] == garments[main]["results"]
    whole = garments[main]["kind"] == "photo"
    assert body["query"]["crop"] == (None if whole else garments[main]["box"])


def test_a_plain_query_has_no_garments(client, red_circle):
    body = upload(client, red_circle, query="?k=2").json()
    assert body["garments"] is None and body["main"] is None


def test_look_with_a_crop_is_refused(client, red_circle):
    response = upload(client, red_circle, query="?look=true&crop=0,0,0.5,0.5")
    assert_error(response, 422, "invalid_crop", "look=true")
