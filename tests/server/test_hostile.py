"""Hostile input, round two (issue 15): no request body makes the API answer 5xx, limits hold,
and nothing a refused request sends stays on disk.

Every test here sends something an attacker would and asserts the same three things
(:func:`refused`): a 4xx with the JSON error shape ``{"error", "detail"}``; a healthy server
afterwards (``GET /healthz`` 200); an unchanged bundle (same live version and item count,
``check_bundle`` clean, no orphaned files). The named cases of the issue come first, then
property tests (hypothesis) over the classes: JSON bodies (nesting, surrogates, huge arrays,
wrong types), multipart bodies (boundaries, charsets, field counts, file-name lengths), ids
(Unicode classes) and image containers (declared vs real sizes per format). Add a case here
whenever a new one is found.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import zlib

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from lookalike.bundle import CURRENT, check_bundle, find_orphans, read_bundle
from tests.server.conftest import API_KEY, UPLOAD_LIMIT

KEY = {"X-API-Key": API_KEY}
PROFILE = "/api/recommend/profile"
ITEMS = 24
FAST = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# --- the server, and what every test asserts --------------------------------------------------
@pytest.fixture(scope="module")
def hostile(app_factory, tiny_bundle, tmp_path_factory):
    """(TestClient with updates enabled, its private bundle), shared by the module: every
    test leaves the bundle as it found it, which is the point."""
    bundle = tmp_path_factory.mktemp("hostile") / "bundle"
    shutil.copytree(tiny_bundle, bundle, symlinks=True)
    app = app_factory(
        bundle,
        api_key=API_KEY,
        api_key_env=None,
        max_upload_bytes=UPLOAD_LIMIT,
        thumbnail_dir=bundle / "thumbnails",
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, bundle


def refused(hostile, response, status: int | None = None, *words: str) -> dict:
    """A 4xx (``status`` when given) with the JSON error shape naming ``words``; the server
    still healthy; the bundle unchanged."""
    client, bundle = hostile
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    if status is not None:
        assert response.status_code == status, response.text[:500]
    body = response.json()
    assert set(body) >= {"error", "detail"}, body
    assert isinstance(body["error"], str) and body["detail"], body
    for word in words:
        assert word.lower() in str(body["detail"]).lower(), body
    assert "Traceback" not in response.text
    unchanged(hostile)
    return body


#: The live version a refused request must leave in place: v000001, or the version that a
#: legal upload's add-then-remove cycle (test_hostile_multipart_bodies) left live.
LIVE = {"version": "v000001"}


def unchanged(hostile) -> None:
    """Healthy server, same bundle: the same version live with its 24 items, nothing
    orphaned."""
    client, bundle = hostile
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["items"] == ITEMS
    assert (bundle / CURRENT).read_text().strip() == LIVE["version"]
    assert len(read_bundle(bundle).items) == ITEMS
    assert find_orphans(bundle).files == []


def multipart(
    parts: list[tuple[str, str | None, bytes]],
    boundary: str = "hostileboundary",
    close: bool = True,
) -> bytes:
    """A raw multipart body of (field name, file name or None, data) parts."""
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: image/jpeg\r\n"
        out += b"\r\n" + data + b"\r\n"
    return out + (f"--{boundary}--\r\n".encode() if close else b"")


def post_raw(client, path: str, body: bytes, ctype: str, **headers: str):
    return client.post(path, content=body, headers={"Content-Type": ctype, **KEY, **headers})


def png(width: int, height: int, colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()


def declared_png(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header declares width x height (a valid CRC, no pixel data for it)."""
    data = bytearray(png(1, 1))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.fixture(scope="module")
def photo(tiny_catalog) -> bytes:
    return (tiny_catalog / "Apparel" / "101.jpg").read_bytes()


# --- 1. deeply nested JSON, in every JSON-bearing input -----------------------------------------
DEEP = "[" * 1000 + "]" * 1000


def test_deep_json_body_is_422(hostile):
    client, _ = hostile
    for body in (DEEP, '{"liked": ' + DEEP + "}", '{"liked": ["101"], "filters": ' + DEEP + "}"):
        response = client.post(PROFILE, content=body, headers={"Content-Type": "application/json"})
        refused(hostile, response, 422, "deep")


def test_deep_json_in_multipart_fields_is_422(hostile, photo):
    client, _ = hostile
    body = multipart([("liked", None, b"101"), ("filters", None, DEEP.encode())])
    response = post_raw(client, PROFILE, body, "multipart/form-data; boundary=hostileboundary")
    refused(hostile, response, 422, "deep")
    body = multipart([("image", "p.jpg", photo), ("metadata", None, DEEP.encode())])
    response = post_raw(client, "/api/items", body, "multipart/form-data; boundary=hostileboundary")
    assert refused(hostile, response, 422, "deep")["error"] == "invalid_metadata"


# --- 2. lone surrogates ---------------------------------------------------------------------------
def test_lone_surrogates_are_422(hostile, photo):
    client, _ = hostile
    for body in (
        rb'{"liked": ["\ud800"]}',
        rb'{"liked": ["101"], "filters": {"Colour": ["\udfff"]}}',
    ):
        response = client.post(PROFILE, content=body, headers={"Content-Type": "application/json"})
        refused(hostile, response, 422, "not valid unicode")
    # The metadata field of an upload: refused before anything is stored.
    metadata = rb'{"ProductTitle": "bad \ud800"}'
    body = multipart(
        [("image", "p.jpg", photo), ("id", None, b"sur1"), ("metadata", None, metadata)]
    )
    response = post_raw(client, "/api/items", body, "multipart/form-data; boundary=hostileboundary")
    refused(hostile, response, 422, "not valid unicode")


def test_a_utf7_form_cannot_smuggle_surrogates(hostile):
    client, _ = hostile
    body = multipart([("liked", None, b"+2AA-")])
    ctype = "multipart/form-data; boundary=hostileboundary; charset=utf-7"
    refused(hostile, post_raw(client, PROFILE, body, ctype), 422, "charset")


# --- 3. containers whose images are bigger than their headers say -------------------------------
def ico(payload: bytes, directory_size: int = 0) -> bytes:
    """An ICO whose directory says directory_size (0 = 256) and holds ``payload``."""
    entry = struct.pack("<BBBBHHII", directory_size, directory_size, 0, 0, 1, 32, len(payload), 22)
    return struct.pack("<HHH", 0, 1, 1) + entry + payload


def dib(width: int, height: int) -> bytes:
    """A BITMAPINFOHEADER as an icon holds it (height counts the mask: twice the image)."""
    return struct.pack("<IiiHHIIiiII", 40, width, 2 * height, 1, 32, 0, 0, 0, 0, 0, 0)


def icns(payload: bytes) -> bytes:
    block = b"ic10" + struct.pack(">I", 8 + len(payload)) + payload
    return b"icns" + struct.pack(">I", 8 + len(block)) + block


def test_ico_holding_a_huge_png_is_refused_before_decoding(hostile):
    client, _ = hostile
    bomb = ico(declared_png(13000, 13000))
    response = client.post("/api/recommend", files={"image": ("x.ico", bomb, "image/x-icon")})
    body = refused(hostile, response, 422, "13000x13000", "refused before decoding")
    assert body["error"] == "invalid_image"
    response = client.post(
        "/api/items",
        files={"image": ("x.ico", bomb, "image/x-icon")},
        data={"id": "icobomb"},
        headers=KEY,
    )
    refused(hostile, response, 422, "refused before decoding")


HEADER_BOMBS = {
    "png": lambda w, h: declared_png(w, h),
    "ico-png": lambda w, h: ico(declared_png(w, h)),
    "ico-bmp": lambda w, h: ico(dib(w, h) + bytes(64)),
    "icns-png": lambda w, h: icns(declared_png(w, h)),
    "gif": lambda w, h: patched("GIF", 6, "<HH", w, h),
    "bmp": lambda w, h: patched("BMP", 18, "<ii", w, h),
    "tiff": lambda w, h: tiff(w, h),
}


def patched(fmt: str, offset: int, layout: str, width: int, height: int) -> bytes:
    """A real 1x1 image of ``fmt`` whose header (at ``offset``) declares width x height."""
    buffer = io.BytesIO()
    Image.new("P" if fmt == "GIF" else "RGB", (1, 1)).save(buffer, fmt)
    data = bytearray(buffer.getvalue())
    data[offset : offset + struct.calcsize(layout)] = struct.pack(layout, width, height)
    return bytes(data)


def tiff(width: int, height: int) -> bytes:
    """A 1x1 TIFF whose tags declare width x height."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, "TIFF")
    data = bytearray(buffer.getvalue())
    (ifd,) = struct.unpack("<I", data[4:8])
    (count,) = struct.unpack("<H", data[ifd : ifd + 2])
    for n in range(count):
        entry = ifd + 2 + 12 * n
        tag, kind = struct.unpack("<HH", data[entry : entry + 4])
        value = {256: width, 257: height}.get(tag)
        if value is not None:
            layout = "<H" if kind == 3 else "<I"
            data[entry + 8 : entry + 8 + struct.calcsize(layout)] = struct.pack(layout, value)
    return bytes(data)


@FAST
@given(
    kind=st.sampled_from(sorted(HEADER_BOMBS)),
    width=st.integers(6400, 65535),
    height=st.integers(6400, 65535),
)
def test_declared_vs_real_sizes_per_container(hostile, kind, width, height):
    """Over the 40 MP limit by the header of the image itself, whatever the container's
    directory says: refused with a message naming the real size, fast, never 5xx."""
    client, _ = hostile
    data = HEADER_BOMBS[kind](width, height)
    response = client.post("/api/recommend", files={"image": (f"x.{kind}", data, "image/png")})
    body = refused(hostile, response, 422)
    assert body["error"] == "invalid_image"
    if width * height > 40_000_000:
        assert "limit" in body["detail"] or "large" in body["detail"], body


def test_preview_refuses_bombs_as_recommend_does(hostile):
    """POST /api/preview decodes uploads too: the same checks, before decoding."""
    client, _ = hostile
    bomb = ico(declared_png(13000, 13000))
    response = client.post("/api/preview", files={"image": ("x.ico", bomb, "image/x-icon")})
    refused(hostile, response, 422, "13000x13000", "refused before decoding")
    for kind in sorted(HEADER_BOMBS):
        data = HEADER_BOMBS[kind](20000, 20000)
        response = client.post("/api/preview", files={"image": (f"x.{kind}", data, "image/png")})
        body = refused(hostile, response, 422)
        assert body["error"] == "invalid_image"
        assert "limit" in body["detail"] or "large" in body["detail"], (kind, body)


# --- 4. garbage: failed adds leave nothing -------------------------------------------------
def test_failed_adds_leave_no_files(hostile, photo):
    client, bundle = hostile
    for data in ({"id": "1636\u200b"}, {"id": "ok-id", "metadata": "[" * 50}, {"id": "101"}):
        response = client.post(
            "/api/items", files={"image": ("p.jpg", photo, "image/jpeg")}, data=data, headers=KEY
        )
        refused(hostile, response)
    assert not (bundle / "images").exists() or not list((bundle / "images").iterdir())


# --- 5. the smaller things -----------------------------------------------------------------------
def test_duplicate_id_409_names_the_apis_way(hostile, photo):
    client, _ = hostile
    response = client.post(
        "/api/items",
        files={"image": ("p.jpg", photo, "image/jpeg")},
        data={"id": "101"},
        headers=KEY,
    )
    body = refused(hostile, response, 409, "DELETE /api/items/101")
    assert "--replace" not in body["detail"]


def test_a_5000_character_filename_is_fine(hostile, photo):
    client, _ = hostile
    name = "a" * 5000 + ".jpg"
    response = client.post("/api/recommend", files={"image": (name, photo, "image/jpeg")})
    assert response.status_code == 200, response.text[:300]
    assert response.json()["query"]["filename"] == name[:200]
    unchanged(hostile)


def test_a_body_without_its_closing_boundary_says_so(hostile, photo):
    client, _ = hostile
    body = multipart([("image", "p.jpg", photo)], close=False)
    response = post_raw(
        client, "/api/recommend", body, "multipart/form-data; boundary=hostileboundary"
    )
    refused(hostile, response, 422, "closing boundary")


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate, gzip"])
def test_compressed_bodies_are_415(hostile, encoding):
    client, _ = hostile
    body = zlib.compress(b'{"liked": ["101"]}')
    response = client.post(
        PROFILE,
        content=body,
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )
    refused(hostile, response, 415, "Content-Encoding")


def test_a_404_never_echoes_a_huge_id(hostile):
    client, _ = hostile
    huge = "x" * 10_000
    for response in (
        client.get(f"/api/items/{huge}"),
        client.get(f"/api/items/{huge}/similar"),
        client.delete(f"/api/items/{huge}", headers=KEY),
    ):
        body = refused(hostile, response, 404)
        assert len(body["detail"]) < 300 and "10,000 characters" in body["detail"]
    response = client.post(PROFILE, json={"liked": ["y" * 100_000]})
    body = refused(hostile, response, 404)
    assert len(body["detail"]) < 400


def test_head_on_image_urls(hostile):
    client, _ = hostile
    for path in ("/api/items/101/image", "/api/items/101/thumbnail"):
        get = client.get(path)
        head = client.head(path)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["etag"] == get.headers["etag"]
        assert head.headers["content-type"] == get.headers["content-type"]
    missing = client.head("/api/items/nope/image")  # a HEAD answer has no body to parse
    assert missing.status_code == 404 and missing.content == b""
    assert missing.headers["content-type"] == "application/json"
    unchanged(hostile)


@pytest.mark.parametrize("item_id", ["1636\u200b", "\u202eevil", "a\u2066b", "x\ufe0f", "a\u00a0b"])
def test_lookalike_ids_are_refused(hostile, photo, item_id):
    client, _ = hostile
    response = client.post(
        "/api/items",
        files={"image": ("p.jpg", photo, "image/jpeg")},
        data={"id": item_id},
        headers=KEY,
    )
    assert refused(hostile, response, 422, "U+")["error"] == "invalid_id"


# --- property tests over the classes --------------------------------------------------------------
FIELDS = {"liked", "disliked", "k", "method", "diversity", "filters", "user", "ignore_unknown"}
CHARSETS = ["", "utf-8", "utf-7", "latin-1", "utf-16", "rot13", "nope"]
bad_strings = st.sampled_from(["\ud800", "\udfff", "a\udc80b"]) | st.text(max_size=8)
nested = st.recursive(
    st.integers() | bad_strings | st.none(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)


def deep(value, levels: int):
    for _ in range(levels):
        value = [value]
    return value


hostile_profiles = st.one_of(
    # nesting past the limit anywhere
    st.builds(lambda v, n: {"liked": deep(v, n)}, nested, st.integers(9, 60)),
    st.builds(
        lambda v, n: {"liked": ["101"], "filters": {"Colour": deep(v, n)}},
        nested,
        st.integers(9, 60),
    ),
    # surrogates in ids, filter names and values, user
    st.builds(lambda s: {"liked": [s + "\ud800"]}, st.text(max_size=5)),
    st.builds(
        lambda s: {"liked": ["101"], "filters": {s + "\udfff": ["Red"]}}, st.text(max_size=5)
    ),
    st.builds(lambda s: {"liked": ["101"], "user": "\udc00" + s}, st.text(max_size=5)),
    # huge arrays, wrong types
    st.builds(lambda n: {"liked": ["101"] * n}, st.integers(501, 3000)),
    st.builds(
        lambda v: {"liked": v},
        st.integers() | st.text() | st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
    ),
    st.builds(
        lambda v: {"liked": ["101"], "k": v},
        st.text(max_size=5) | st.lists(st.integers(), max_size=3) | st.integers(101, 10**30),
    ),
    st.builds(
        lambda v: {"liked": ["101"], "filters": v},
        st.lists(st.integers(), max_size=3) | st.text(max_size=5),
    ),
    st.builds(
        lambda v: {"liked": ["101"], "diversity": v},
        st.floats(allow_nan=True).filter(lambda x: not 0 <= x <= 1),
    ),
    st.builds(
        lambda key: {"liked": ["101"], key: 1},
        st.text(min_size=1, max_size=8).filter(lambda k: k not in FIELDS),
    ),
)


@FAST
@given(hostile_profiles)
def test_hostile_json_bodies(hostile, body):
    client, _ = hostile
    raw = json.dumps(body, ensure_ascii=True)  # surrogates travel as \\uXXXX escapes
    response = client.post(PROFILE, content=raw, headers={"Content-Type": "application/json"})
    refused(hostile, response)


@FAST
@given(
    boundary=st.text(alphabet="abcXYZ0129'()+_,-./:=? ", min_size=1, max_size=70),
    charset=st.sampled_from(CHARSETS),
    fields=st.integers(0, 300),
    filename_length=st.integers(0, 20_000),
    close=st.booleans(),
    drop_header=st.booleans(),
)
def test_hostile_multipart_bodies(
    hostile, photo, boundary, charset, fields, filename_length, close, drop_header
):
    client, _ = hostile
    parts = [(f"col{i}", None, b"x") for i in range(fields)]
    parts.append(("image", "f" * filename_length + ".jpg", photo))
    body = multipart(parts, boundary=boundary, close=close)
    ctype = f'multipart/form-data; boundary="{boundary}"' + (f"; charset={charset}" * bool(charset))
    if drop_header:
        ctype = "multipart/form-data"
    response = post_raw(client, "/api/items", body, ctype)
    # Some of these are legal; those must add (then be removed again), never fail with 5xx.
    if response.status_code == 201:
        item = response.json()["item"]["id"]
        assert client.delete(f"/api/items/{item}", headers=KEY).status_code == 200
        # Two new versions (add, remove), the same 24 items: what later refusals must keep.
        LIVE["version"] = (hostile[1] / CURRENT).read_text().strip()
        unchanged(hostile)
        return
    refused(hostile, response)


unicode_classes = st.characters(categories=["Cc", "Cf", "Co", "Cs", "Zl", "Zp", "Cn"])


@FAST
@given(
    prefix=st.text(alphabet="abc123-_", max_size=10),
    bad=unicode_classes,
    suffix=st.text(alphabet="xyz", max_size=5),
)
def test_ids_with_invisible_or_control_characters(hostile, photo, prefix, bad, suffix):
    client, _ = hostile
    item_id = prefix + bad + suffix
    body = multipart(
        [("image", "p.jpg", photo), ("id", None, item_id.encode("utf-8", "surrogatepass"))]
    )
    response = post_raw(client, "/api/items", body, "multipart/form-data; boundary=hostileboundary")
    assert refused(hostile, response, 422)["error"] in ("invalid_id", "invalid_multipart")


def test_the_bundle_checks_clean_after_the_suite(hostile):
    _, bundle = hostile
    assert check_bundle(bundle) == []
    unchanged(hostile)
