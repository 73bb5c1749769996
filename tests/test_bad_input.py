"""Bad input end to end: a catalog of hostile and odd files with a broken CSV must build, the
report must name every bad file, the server must answer each as an upload with 200 or a clear
4xx (never 500) and keep working, ``lookalike add`` must skip the bad ones with a message, and
no query string makes the API fail with 5xx (property-based, hypothesis).

Run with ``-s`` to see the outcome table.
"""

from __future__ import annotations

import io
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlencode

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from lookalike.bundle import current_version_dir, read_bundle
from lookalike.catalog import read_catalog
from lookalike.pipeline import BuildConfig, build_bundle, read_build_report
from tests.conftest import TINY_CAE, make_catalog

API_KEY = "bad-input-key-0123456789"


# --- the corpus -----------------------------------------------------------------------------------
def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _photo(size=(48, 64), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = np.full((size[1], size[0], 3), 235, np.uint8)
    base[8:-8, 8:-8] = rng.integers(0, 255, 3, dtype=np.uint8)  # a coloured "garment"
    return Image.fromarray(base)


def _bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A valid 1x1 PNG whose header claims width x height (900 MP): a decompression bomb."""
    data = bytearray(_encode(Image.new("1", (1, 1)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    return _encode(_photo((64, 40), 3), "JPEG", exif=exif, quality=90)


def _animated_gif() -> bytes:
    frames = [_photo(seed=s).convert("P") for s in (4, 5, 6)]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)


def _sixteen_bit() -> bytes:
    ramp = (np.arange(48 * 64, dtype=np.uint32).reshape(64, 48) * 21).astype(np.uint16)
    image = Image.fromarray(ramp)
    assert image.mode == "I;16"
    return _encode(image, "PNG")


GOOD_JPEG = _encode(_photo(seed=9), "JPEG", quality=90)

#: name -> (file bytes, "ok" when it must decode, "bad" when it must be refused,
#: "ignored" when a catalog scan does not pick it up at all).
CORPUS: dict[str, tuple[Callable[[], bytes], str]] = {
    "zero-byte.jpg": (lambda: b"", "bad"),
    "truncated.jpg": (lambda: GOOD_JPEG[: len(GOOD_JPEG) // 2], "bad"),
    "alpha.png": (lambda: _encode(_photo(seed=1).convert("RGBA"), "PNG"), "ok"),
    "palette.png": (lambda: _encode(_photo(seed=2).convert("P"), "PNG"), "ok"),
    "sixteen-bit.png": (_sixteen_bit, "ok"),
    "cmyk.jpg": (lambda: _encode(_photo(seed=7).convert("CMYK"), "JPEG"), "ok"),
    "grayscale.jpg": (lambda: _encode(_photo(seed=8).convert("L"), "JPEG"), "ok"),
    "one-pixel.png": (lambda: _encode(Image.new("RGB", (1, 1), (200, 0, 0)), "PNG"), "ok"),
    "bomb.png": (_bomb_png, "bad"),
    "animated.gif": (_animated_gif, "ok"),  # first frame
    "exif-rotated.jpg": (_exif_rotated, "ok"),
    "random-bytes.jpg": (lambda: np.random.default_rng(0).bytes(3000), "bad"),
    "html.png": (lambda: b"<!DOCTYPE html><html><body>404 Not Found</body></html>", "bad"),
}
BAD = [name for name, (_, kind) in CORPUS.items() if kind == "bad"]

# A CSV with every common problem: a short row, a repeated id, a row without an image, a
# non-UTF-8 byte, and (the corpus files and two catalog photos) images without a row.
BAD_CSV = (
    b"ProductId,Image,Colour,ProductType\n"
    b"101,101.jpg,Red,Circle\n"
    b"102,102.jpg,Green\n"  # a missing field
    b"101,103.jpg,Blue,Circle\n"  # a duplicate id
    b"ghost,ghost.jpg,Red,Square\n"  # no such image
    b"104,104.jpg,Caf\xe9 cr\xe8me,Circle\n"  # Latin-1, not UTF-8
)
CSV_PROBLEMS = {
    "missing fields": "missing field",
    "duplicate ids": "duplicate id '101'",
    "id without image": "'ghost' has no image file",
    "images without row": "have no metadata row",
    "non-UTF-8 text": "not valid UTF-8",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    """The corpus files, written once."""
    folder = tmp_path_factory.mktemp("corpus")
    paths = {}
    for name, (make, _) in CORPUS.items():
        paths[name] = folder / name
        paths[name].write_bytes(make())
    return paths


@pytest.fixture(scope="module")
def bad_bundle(corpus, tmp_path_factory) -> Path:
    """A bundle built from 12 good photos + the corpus, with the broken CSV."""
    catalog = make_catalog(tmp_path_factory.mktemp("bad-catalog"), variants=1)
    (catalog / "fashion.csv").write_bytes(BAD_CSV)
    odd = catalog / "odd"
    odd.mkdir()
    for path in corpus.values():
        shutil.copy(path, odd / path.name)
    out = tmp_path_factory.mktemp("bad-bundles") / "bundle"
    config = BuildConfig(catalog=str(catalog), encoder="cae", encoder_options=dict(TINY_CAE))
    build_bundle(config, out, progress=False)  # must not raise
    return out


@pytest.fixture(scope="module")
def client(bad_bundle, tmp_path_factory):
    """TestClient over the bad bundle, with updates enabled; 500s come back as responses."""
    from lookalike.server.app import create_app

    app = create_app(
        bad_bundle,
        api_key=API_KEY,
        api_key_env=None,
        thumbnail_dir=tmp_path_factory.mktemp("thumbs"),
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


OUTCOMES: dict[str, dict[str, str]] = {name: {} for name in CORPUS}


# --- build ----------------------------------------------------------------------------------------
def test_build_succeeds_and_the_report_names_every_bad_file(bad_bundle):
    report = read_build_report(current_version_dir(bad_bundle))
    ids = set(read_bundle(bad_bundle).items.ids)
    decode = "\n".join(report["decode_problems"])
    for name, (_, kind) in CORPUS.items():
        stem = Path(name).stem
        if kind == "bad":
            assert name in decode, name
            assert stem not in ids
            OUTCOMES[name]["build"] = "skipped, named in report"
        else:
            assert kind == "ok"
            assert stem in ids and name not in decode, name
            OUTCOMES[name]["build"] = "indexed"
    # Each refusal says why, in words.
    for words in ("empty (0 bytes)", "html", "too large", "truncated", "not a recognised"):
        assert words in decode.lower(), words
    catalog = "\n".join(report["catalog_problems"])
    for problem, words in CSV_PROBLEMS.items():
        assert words in catalog, problem
    assert {"101", "102", "104", "105"} <= ids and "ghost" not in ids


def test_catalog_csv_without_id_or_image_columns_is_reported(tmp_path):
    catalog = make_catalog(tmp_path / "cat", variants=1)
    (catalog / "fashion.csv").write_text("Colour,Title\nRed,x\n")
    problems = read_catalog(catalog).problems
    assert any("neither an id nor an image column" in p for p in problems)


def test_exif_rotation_is_applied(corpus):
    from lookalike.imaging import open_rgb

    assert open_rgb(corpus["exif-rotated.jpg"]).size == (40, 64)  # upright: portrait


# --- uploads --------------------------------------------------------------------------------------
def test_each_file_as_an_upload_gets_200_or_a_clear_4xx(client, corpus):
    for name, path in corpus.items():
        kind = CORPUS[name][1]
        response = client.post(
            "/api/recommend?k=3", files={"image": (name, path.read_bytes(), "image/jpeg")}
        )
        assert response.status_code < 500, (name, response.text)
        if kind == "bad":
            body = response.json()
            assert response.status_code == 422 and body["error"] == "invalid_image", name
            assert name in body["detail"], body  # names the user's file, then says why
            assert "Traceback" not in response.text
            OUTCOMES[name]["recommend"] = f"{response.status_code} {body['error']}"
        else:
            assert response.status_code == 200 and len(response.json()["results"]) == 3, name
            OUTCOMES[name]["recommend"] = "200"
    assert client.get("/healthz").json()["status"] == "ok"  # still serving


def test_each_file_added_through_the_api_gets_201_or_a_clear_4xx(client, corpus):
    before = client.get("/healthz").json()["items"]
    added = 0
    for name, path in corpus.items():
        response = client.post(
            "/api/items",
            files={"image": (name, path.read_bytes(), "application/octet-stream")},
            data={"id": f"api-{Path(name).stem}"},
            headers={"X-API-Key": API_KEY},
        )
        assert response.status_code < 500, (name, response.text)
        if CORPUS[name][1] == "bad":
            assert response.status_code == 422, (name, response.text)
            assert name in response.json()["detail"]
        else:
            assert response.status_code == 201, (name, response.text)
            added += 1
        OUTCOMES[name]["api add"] = f"{response.status_code} {response.json().get('error', '')}"
    assert client.get("/healthz").json()["items"] == before + added
    assert client.get("/api/items/api-alpha/similar?k=2").status_code == 200


def test_cli_add_skips_bad_files_with_messages(bad_bundle, corpus, tmp_path, capsys):
    from lookalike.cli import main

    inputs = []
    for name, path in corpus.items():  # new names: the build already used these stems
        inputs.append(tmp_path / f"cli-{name}")
        shutil.copy(path, inputs[-1])
    status = main(["add", "--bundle", str(bad_bundle), "--quiet", *map(str, inputs)])
    out = capsys.readouterr().out
    assert status == 1  # some inputs were skipped
    lines = out.splitlines()
    ids = set(read_bundle(bad_bundle).items.ids)
    for name in CORPUS:
        skipped = [line for line in lines if line.startswith("skipped") and f"cli-{name}" in line]
        if CORPUS[name][1] == "bad":
            assert len(skipped) == 1 and f"cli-{Path(name).stem}" not in ids, name
            OUTCOMES[name]["cli add"] = "skipped: " + skipped[0].split(": ", 2)[-1][:48]
        else:
            # Named explicitly, a GIF is read by content (only folder scans skip it).
            assert not skipped and f"cli-{Path(name).stem}" in ids, name
            OUTCOMES[name]["cli add"] = "added"


def test_print_outcome_table(capsys):
    """The summary (visible with -s): every case and what each entry point did with it."""
    columns = ["build", "recommend", "api add", "cli add"]
    if not all(set(columns) <= set(outcome) for outcome in OUTCOMES.values()):
        pytest.skip("the table needs the whole module to run")
    width = max(map(len, CORPUS)) + 2
    lines = [f"\nbad-input corpus: {len(CORPUS)} files ({len(BAD)} bad) + "
             f"{len(CSV_PROBLEMS) + 1} CSV problems"]  # fmt: skip
    lines.append("file".ljust(width) + " | ".join(c.ljust(26) for c in columns))
    for name, outcome in OUTCOMES.items():
        lines.append(name.ljust(width) + " | ".join(outcome[c][:26].ljust(26) for c in columns))
    lines += [f"csv: {problem} -> reported" for problem in CSV_PROBLEMS]
    lines.append("csv: no id/image column -> reported (catalog read)")
    with capsys.disabled():
        print("\n".join(lines))


# --- property-based request parsing ---------------------------------------------------------------
KEYS = st.sampled_from(
    ["k", "offset", "limit", "random", "Colour", "Gender", "ProductType", "ProductId", "x"]
)
VALUES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(max_size=20),
    st.sampled_from(["", "nan", "inf", "1e309", "0x10", " 5", "Red", "../../etc/passwd", "\x00"]),
    st.floats(allow_nan=True).map(str),
)
PARAMS = st.lists(st.tuples(st.one_of(KEYS, st.text(max_size=12)), VALUES), max_size=6)
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)  # fmt: skip


def _no_server_error(response) -> None:
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text


@SETTINGS
@given(params=PARAMS)
def test_browse_never_fails_with_5xx(client, params):
    _no_server_error(client.get("/api/items?" + urlencode(params)))


@SETTINGS
@given(item_id=st.one_of(st.sampled_from(["101", "105", "alpha"]), st.text(max_size=30)),
       params=PARAMS)  # fmt: skip
def test_similar_and_item_never_fail_with_5xx(client, item_id, params):
    path = quote(item_id, safe="") or "%20"
    _no_server_error(client.get(f"/api/items/{path}/similar?" + urlencode(params)))
    response = client.get(f"/api/items/{path}")
    assert response.status_code in (200, 404), response.text


def asgi_get(app, path: str, query: bytes) -> tuple[int, bytes]:
    """GET straight through the ASGI interface, so the query string can be any bytes (HTTP
    clients refuse control characters; a raw socket client would not)."""
    import anyio

    messages: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    anyio.run(app, scope, receive, send)
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return messages[0]["status"], body


@SETTINGS
@given(raw=st.one_of(st.binary(max_size=60), st.text(max_size=60).map(str.encode)))
def test_raw_query_bytes_never_fail_with_5xx(client, raw):
    for endpoint in ("/api/items", "/api/items/101/similar", "/api/facets"):
        status, body = asgi_get(client.app, endpoint, raw)
        assert status < 500, (endpoint, raw, body)
