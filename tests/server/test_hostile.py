"""Hostile clients: path traversal, oversized and malformed bodies, out-of-range parameters,
cross-origin calls, forged keys - and a source check that nothing is ever unpickled."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

import anyio
import pytest
from fastapi.testclient import TestClient

import lookalike
from lookalike.bundle import current_version_dir, read_bundle
from tests.server.conftest import UPLOAD_LIMIT

API_KEY = "hostile-test-key-0123456789"
SECRET = "TOP-SECRET-CONTENT"
TRAVERSALS = [
    "..%2F..%2F..%2Fsecret.txt",
    "%2e%2e%2f%2e%2e%2fsecret.txt",
    "%2e%2e/%2e%2e/secret.txt",
    "..%252F..%252Fsecret.txt",  # double-encoded
    "..%5C..%5Csecret.txt",
    "%2Fetc%2Fpasswd",
    "%2F%2Fetc%2Fpasswd",
    "101%00",
    "101%00.jpg",
    "%00",
    "..",
    "%2e%2e",
    "%c0%ae%c0%ae%2fsecret.txt",  # overlong UTF-8 dots
    "101%2F..%2F..%2Fsecret.txt",
    "~%2F.ssh%2Fid_rsa",
    "file%3A%2F%2F%2Fetc%2Fpasswd",
]


@pytest.fixture
def secret(tmp_path) -> Path:
    """A file next to the bundle that no request may ever read."""
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


@pytest.fixture
def keyed(app_factory, bundle_copy, tmp_path):
    """TestClient over a private bundle copy with updates enabled."""
    app = app_factory(
        bundle_copy,
        api_key=API_KEY,
        api_key_env=None,
        max_upload_bytes=UPLOAD_LIMIT,
        thumbnail_dir=tmp_path / "thumbs",
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def asgi_request(
    app,
    method: str,
    path: str,
    query: bytes = b"",
    headers: dict[str, str] | None = None,
    body: Iterable[bytes] = (),
) -> tuple[int, bytes]:
    """A request straight through ASGI: the path arrives exactly as given (HTTP clients
    normalise ``..`` segments away) and the body is pulled chunk by chunk as the app asks
    for it (the test client would read it all first), like a chunked upload."""
    messages: list[dict] = []
    chunks = iter(body)

    async def receive() -> dict:
        chunk = next(chunks, None)
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    async def send(message: dict) -> None:
        messages.append(message)

    sent = {"x-api-key": API_KEY} if headers is None else headers
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver")]
        + [(k.lower().encode(), v.encode()) for k, v in sent.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    anyio.run(app, scope, receive, send)
    body_out = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return messages[0]["status"], body_out


# --- path traversal -------------------------------------------------------------------------------
@pytest.mark.parametrize("item_id", TRAVERSALS)
def test_traversal_in_every_id_parameter_is_404(keyed, bundle_copy, secret, item_id):
    version = current_version_dir(bundle_copy)
    for method, suffix in [("GET", ""), ("GET", "/image"), ("GET", "/thumbnail"),
                           ("GET", "/similar"), ("DELETE", "")]:  # fmt: skip
        response = keyed.request(
            method, f"/api/items/{item_id}{suffix}", headers={"X-API-Key": API_KEY}
        )
        assert response.status_code == 404, (method, item_id, suffix, response.text)
        assert SECRET not in response.text and "root:" not in response.text
        assert response.json()["error"] in {"unknown_item", "not_found"}
    assert current_version_dir(bundle_copy) == version  # nothing was deleted


def test_literal_dot_segments_and_absolute_paths_never_reach_a_file(keyed, secret, tiny_catalog):
    app = keyed.app
    real = tiny_catalog / "Apparel" / "101.jpg"
    for path in [
        "/api/items/../../secret.txt/image",
        "/api/items/../../../../etc/passwd",
        f"/api/items/{secret}/image",
        f"/api/items/{real}/image",
        "/api/items/101/../../../secret.txt",
        "/static/../../secret.txt",
        "/static/../app.py",
        f"/static/{secret}",
        "/api/items/101\x00/image",
    ]:
        for method in ("GET", "DELETE"):
            status, body = asgi_request(app, method, path)
            assert status in (404, 405), (method, path, status, body[:200])
            assert SECRET.encode() not in body and b"root:" not in body
            assert b"create_app" not in body  # no source file either
    # Even the real absolute path of a catalog image is not an id.
    assert keyed.get(f"/api/items/{quote(str(real), safe='')}/image").status_code == 404


def test_upload_file_names_never_choose_where_files_go(keyed, bundle_copy, tiny_catalog):
    photo = (tiny_catalog / "Apparel" / "102.jpg").read_bytes()
    target = bundle_copy.parent / "evil.jpg"
    response = keyed.post(
        "/api/items",
        files={"image": ("../../evil.jpg", photo, "image/jpeg")},
        data={"id": "named-evil"},
        headers={"X-API-Key": API_KEY},
    )
    assert response.status_code == 201, response.text
    assert not target.exists() and not Path("evil.jpg").exists()
    stored = Path(lookalike.load(bundle_copy).items.paths[-1])
    assert stored.parent == (bundle_copy / "images").resolve()
    assert keyed.get("/api/items/named-evil/image").content == photo


# --- bodies ---------------------------------------------------------------------------------------
def _chunked_body(boundary: str, chunks: int, counter: list[int]):
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    yield head
    for _ in range(chunks):
        counter[0] += 1
        yield bytes(16 * 1024)
    yield f"\r\n--{boundary}--\r\n".encode()


def test_streamed_upload_without_length_is_cut_off_at_the_limit(keyed):
    boundary = "hostileboundary"
    counter = [0]
    status, body = asgi_request(
        keyed.app,
        "POST",
        "/api/items",
        headers={  # no Content-Length: only the streaming count can stop it
            "content-type": f"multipart/form-data; boundary={boundary}",
            "x-api-key": API_KEY,
        },
        body=_chunked_body(boundary, 400, counter),  # 6.4 MB
    )
    assert status == 413 and b"payload_too_large" in body
    # Refused once past the limit (64 KB + multipart slack), not after reading all 6.4 MB.
    assert counter[0] < 20, counter


def test_updates_without_a_key_are_refused_before_the_body_is_read(keyed, bundle_copy):
    boundary = "hostileboundary"
    counter = [0]
    status, _ = asgi_request(
        keyed.app,
        "POST",
        "/api/items",
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        body=_chunked_body(boundary, 400, counter),
    )
    assert status == 401 and counter[0] == 0
    assert len(read_bundle(bundle_copy).items) == 24


def test_too_many_form_fields_is_422(keyed, tiny_catalog):
    photo = (tiny_catalog / "Apparel" / "102.jpg").read_bytes()
    fields = {f"col{i}": "x" for i in range(200)}
    response = keyed.post(
        "/api/items",
        files={"image": ("p.jpg", photo, "image/jpeg")},
        data=fields,
        headers={"X-API-Key": API_KEY},
    )
    assert response.status_code == 422 and response.json()["error"] == "invalid_multipart"


def test_two_files_or_garbage_multipart_is_4xx(client, tiny_catalog):
    photo = (tiny_catalog / "Apparel" / "102.jpg").read_bytes()
    two = client.post(
        "/api/recommend",
        files=[
            ("image", ("a.jpg", photo, "image/jpeg")),
            ("image", ("b.jpg", photo, "image/jpeg")),
        ],
    )
    assert two.status_code == 422, two.text
    garbage = client.post(
        "/api/recommend",
        content=b"--x\r\nnot really multipart",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert 400 <= garbage.status_code < 500, garbage.text
    no_boundary = client.post(
        "/api/recommend", content=b"abc", headers={"Content-Type": "multipart/form-data"}
    )
    assert 400 <= no_boundary.status_code < 500, no_boundary.text
    assert client.get("/healthz").status_code == 200


# --- parameter bounds -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "/api/items/101/similar?k=0",
        "/api/items/101/similar?k=101",
        "/api/items/101/similar?k=-1",
        "/api/items/101/similar?k=1e3",
        "/api/items/101/similar?k=99999999999999999999999",
        "/api/items/101/similar?k=",
        "/api/items?offset=-1",
        "/api/items?offset=1.5",
        "/api/items?limit=0",
        "/api/items?limit=201",
        "/api/items?limit=-5",
        "/api/items?random=-1",
        f"/api/items?random={2**32}",
        "/api/items?offset=99999999999999999999999999",
        f"/api/items?offset={2**31}",
    ],
)
def test_out_of_range_parameters_are_422(client, url):
    response = client.get(url)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_parameter"


def test_huge_offset_within_range_is_an_empty_page(client):
    body = client.get(f"/api/items?offset={2**31 - 1}&limit=200").json()
    assert body["items"] == [] and body["total"] == 24


# --- CORS and keys --------------------------------------------------------------------------------
def test_cors_is_closed_by_default_for_every_method(keyed):
    for method in ("GET", "POST", "DELETE"):
        preflight = keyed.options(
            "/api/items",
            headers={
                "Origin": "https://evil.example",
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "x-api-key",
            },
        )
        assert "access-control-allow-origin" not in preflight.headers
    simple = keyed.get("/api/items", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_cors_opens_for_a_configured_origin_only(app_factory, bundle_copy, tmp_path):
    app = app_factory(
        bundle_copy, cors_origins=["https://shop.example"], api_key=API_KEY, thumbnail_dir=tmp_path
    )
    with TestClient(app) as test_client:
        preflight = test_client.options(
            "/api/items/101",
            headers={
                "Origin": "https://shop.example",
                "Access-Control-Request-Method": "DELETE",
                "Access-Control-Request-Headers": "x-api-key",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
        assert "DELETE" in preflight.headers["access-control-allow-methods"]
        evil = test_client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in evil.headers


def test_keys_compare_in_constant_time_and_wrong_keys_learn_nothing(keyed):
    from lookalike.server.app import check_api_key

    assert "hmac.compare_digest" in inspect.getsource(check_api_key)
    near = API_KEY[:-1] + "X"
    for headers in ({"X-API-Key": near}, {"X-API-Key": API_KEY + " "},
                    {"Authorization": f"bearer {near}"}, {"X-API-Key": ""}):  # fmt: skip
        response = keyed.delete("/api/items/101", headers=headers)
        assert response.status_code == 401 and API_KEY not in response.text
    assert keyed.get("/api/items/101").status_code == 200


def test_errors_carry_nosniff_and_no_internals(keyed):
    for response in (
        keyed.get("/api/items/..%2Fx/image"),
        keyed.get("/api/items?limit=0"),
        keyed.post("/api/items", headers={"X-API-Key": "nope"}),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "Traceback" not in response.text and "/lookalike/" not in response.text


# --- nothing is ever unpickled --------------------------------------------------------------------
PICKLE_MODULES = {
    "pickle",
    "cPickle",
    "_pickle",
    "dill",
    "cloudpickle",
    "joblib",
    "shelve",
    "marshal",
}


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            base = node.func.value
            yield (base.id if isinstance(base, ast.Name) else None), node.func.attr, node


def _keyword(node: ast.Call, name: str):
    for keyword in node.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant):
            return keyword.value.value
    return None


def test_no_module_can_unpickle_bundles_or_uploads():
    """A source check over lookalike/: no pickle-family imports, every ``torch.load`` has
    ``weights_only=True`` and no ``np.load`` allows pickles (bundles are JSON, .npy,
    safetensors and FAISS files; uploads are only ever decoded as images)."""
    root = Path(lookalike.__file__).parent
    problems, torch_loads = [], 0
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        where = path.relative_to(root.parent)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                continue
            if names & PICKLE_MODULES:
                problems.append(f"{where}:{node.lineno} imports {sorted(names & PICKLE_MODULES)}")
        for base, attr, node in _calls(tree):
            if base == "torch" and attr == "load":
                torch_loads += 1
                if _keyword(node, "weights_only") is not True:
                    problems.append(f"{where}:{node.lineno} torch.load without weights_only=True")
            if base in ("np", "numpy") and attr == "load" and _keyword(node, "allow_pickle"):
                problems.append(f"{where}:{node.lineno} np.load(allow_pickle=True)")
            if attr in ("read_pickle", "loads") and base in ("pd", "pandas", "pickle"):
                problems.append(f"{where}:{node.lineno} {base}.{attr}")
    assert not problems, problems
    assert torch_loads >= 1  # the check really saw the checkpoint loaders
