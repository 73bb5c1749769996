"""Uploads (server/uploads.py): the size limit holds however the body arrives, malformed
multipart bodies are 4xx - and a source check that nothing uploaded or loaded is unpickled."""

from __future__ import annotations

import ast
from pathlib import Path

import anyio
import pytest

import lookalike
from lookalike.server.routes.admin import MAX_ITEM_PHOTOS
from lookalike.server.uploads import limited
from tests.server.conftest import (
    API_KEY,
    UPLOAD_LIMIT,
    asgi_request,
    assert_error,
    chunked_body,
    upload,
)


def test_recommend_too_large_by_content_length(client):
    big = b"\xff\xd8" + bytes(UPLOAD_LIMIT * 3)
    assert_error(upload(client, big), 413, "payload_too_large", "64 KB")


def test_recommend_too_large_file_within_body_slack(client):
    # Just over the file limit but within the multipart allowance: caught after parsing.
    assert_error(upload(client, bytes(UPLOAD_LIMIT + 10)), 413, "payload_too_large")


def test_recommend_too_large_streamed_without_length(client):
    boundary = "lookalikeboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()

    def body():  # a generator: sent chunked, no Content-Length header
        yield head
        for _ in range(40):
            yield bytes(16 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        "/api/recommend",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert_error(response, 413, "payload_too_large")


def test_upload_limit_stops_reading_early():
    """The counting stream raises once past the limit, without draining the rest."""
    consumed = 0

    async def endless():
        nonlocal consumed
        while True:
            consumed += 1
            yield bytes(1000)

    async def drain():
        async for _ in limited(endless(), limit=10_000, max_bytes=10_000):
            pass

    with pytest.raises(Exception) as info:
        anyio.run(drain)
    assert getattr(info.value, "status", None) == 413
    assert consumed == 11


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
        body=chunked_body(boundary, 400, counter),  # 6.4 MB
    )
    assert status == 413 and b"payload_too_large" in body
    # Refused once its one file passed the file limit (64 KB in 16 KB chunks), not after
    # reading all 6.4 MB, nor after the body limit of an item's MAX_ITEM_PHOTOS images.
    assert counter[0] < 10 < MAX_ITEM_PHOTOS * 64 // 16, counter


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
