"""lookalike.updates: adding and removing items of a live bundle, crash-safe and consistent."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import lookalike
from lookalike.bundle import VERSIONS, check_bundle, current_version_dir, read_bundle
from lookalike.index import load_index
from lookalike.updates import (
    IMAGES_DIR,
    BundleBusyError,
    NewItem,
    UpdateError,
    add_items,
    add_new_items,
    bundle_lock,
    remove_items,
)
from tests.conftest import draw_item

TINY_ITEMS = 24
API_KEY = "test-key-0123456789"


@pytest.fixture(scope="module")
def new_photos(tmp_path_factory) -> dict[str, Path]:
    """Photos unlike anything in the tiny catalog (new colours), plus a metadata CSV."""
    folder = tmp_path_factory.mktemp("new-photos")
    photos = {
        "purple-circle": draw_item("circle", (150, 40, 190), 0),
        "orange-square": draw_item("square", (250, 140, 20), 1),
    }
    paths = {}
    for name, image in photos.items():
        paths[name] = folder / f"{name}.jpg"
        image.save(paths[name], quality=92)
    return paths


def state(bundle: Path) -> list[str]:
    """The live version's ids after checking that everything in it agrees."""
    data = read_bundle(bundle)
    assert len(data.embeddings) == len(data.items)
    assert load_index(data.index_dir).ntotal == len(data.items)
    assert check_bundle(bundle) == []
    return data.items.ids


# --- add ------------------------------------------------------------------------------------------
def test_add_then_recommend_finds_the_new_item(bundle_copy, new_photos, tiny_catalog, tmp_path):
    copy = tmp_path / "copy.jpg"
    copy.write_bytes((tiny_catalog / "Apparel" / "101.jpg").read_bytes())
    csv = tmp_path / "rows.csv"
    csv.write_text(
        "ProductId,Image,Colour,ProductType\n"
        "P-1,purple-circle.jpg,Purple,Circle\n"
        "P-copy,copy.jpg,Red,Circle\n"
    )
    before = current_version_dir(bundle_copy)

    report = add_items(bundle_copy, [new_photos["purple-circle"], copy], csv)

    assert report.added == ["P-1", "P-copy"] and not report.skipped
    assert report.version == "v000002" and report.items == TINY_ITEMS + 2
    assert [(d.id, d.of, d.kind) for d in report.duplicates if d.kind == "exact"] == [
        ("P-copy", "101", "exact")
    ]
    assert state(bundle_copy)[-2:] == ["P-1", "P-copy"]
    after = current_version_dir(bundle_copy)
    # Unchanged files are hard links to the old version's, not copies.
    weights = next((after / "encoder").iterdir())
    assert weights.stat().st_ino == (before / "encoder" / weights.name).stat().st_ino

    rec = lookalike.load(bundle_copy)
    assert rec.item(rec.row("P-1")).metadata == {"Colour": "Purple", "ProductType": "Circle"}
    [found] = rec.recommend_images([str(new_photos["purple-circle"])], k=3)
    assert found.results[0].id == "P-1" and found.results[0].distance < 1e-4
    # The exact copy collapses with its original: never both in one list.
    for result in rec.recommend_items(["102", "P-1"], k=10):
        assert not {"101", "P-copy"} <= {r.id for r in result.results}
    assert "P-copy" not in [r.id for r in rec.recommend_items(["101"], k=10)[0].results]


def test_add_reports_a_reencoded_copy_as_near_duplicate(bundle_copy, tiny_catalog, tmp_path):
    reencoded = tmp_path / "recoded.jpg"
    Image.open(tiny_catalog / "Apparel" / "105.jpg").save(reencoded, quality=55)
    report = add_items(bundle_copy, [reencoded])
    assert [(d.id, d.of, d.kind) for d in report.duplicates] == [("recoded", "105", "near")]
    assert report.duplicates[0].hamming <= 4


def test_add_skips_taken_invalid_and_unreadable_inputs(bundle_copy, new_photos, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    photo = new_photos["orange-square"]
    report = add_items(
        bundle_copy,
        [photo, photo, photo, broken, tmp_path / "missing.jpg"],
        ids=["101", "../etc", "ok-1", "b-1", "m-1"],
    )
    codes = {s.id: s.code for s in report.skipped}
    assert codes == {
        "101": "id_exists",
        "../etc": "invalid_id",
        "b-1": "invalid_image",
        None: "not_found",
    }
    assert report.added == ["ok-1"]
    assert any("broken.jpg" in line and "skipped" in line for line in report.lines())

    replaced = add_items(bundle_copy, [photo], ids=["101"], replace=True)
    assert replaced.replaced == ["101"] and replaced.items == TINY_ITEMS + 1
    ids = state(bundle_copy)
    assert ids.count("101") == 1 and ids[-1] == "101"  # re-added at the end, rows renumbered
    rec = lookalike.load(bundle_copy)
    [found] = rec.recommend_images([str(photo)], k=2, collapse_duplicates=False)
    assert {r.id for r in found.results} == {"101", "ok-1"}


def test_uploaded_heic_is_stored_under_its_format(bundle_copy):
    heic = Path(__file__).resolve().parent / "data" / "heic" / "blocks.heic"
    add_new_items(bundle_copy, [NewItem("up-heic", heic.read_bytes())], store_images=True)
    rec = lookalike.load(bundle_copy)
    stored = Path(rec.items.paths[rec.row("up-heic")])
    assert stored.suffix == ".heic" and stored.read_bytes() == heic.read_bytes()


def test_nothing_to_add_publishes_nothing(bundle_copy, tiny_catalog):
    report = add_items(bundle_copy, [tiny_catalog / "Apparel" / "101.jpg"])
    assert report.version is None and report.skipped[0].code == "id_exists"
    assert current_version_dir(bundle_copy).name == "v000001"


def test_uploaded_bytes_are_stored_in_the_bundle(bundle_copy, new_photos):
    data = new_photos["orange-square"].read_bytes()
    report = add_new_items(
        bundle_copy, [NewItem("up-1", data, {"Colour": "Orange"})], store_images=True
    )
    rec = lookalike.load(bundle_copy)
    stored = Path(rec.items.paths[rec.row("up-1")])
    assert stored.parent == (bundle_copy / IMAGES_DIR).resolve() and stored.suffix == ".jpg"
    assert stored.read_bytes() == data and report.items == TINY_ITEMS + 1


# --- remove ---------------------------------------------------------------------------------------
def test_remove_then_the_id_never_appears(bundle_copy):
    app_client = TestClient(create_app(bundle_copy))
    assert app_client.get("/api/items/101").status_code == 200

    report = remove_items(bundle_copy, ["101", "110", "nope"])

    assert report.removed == ["101", "110"] and report.unknown_ids == ["nope"]
    ids = state(bundle_copy)
    assert "101" not in ids and len(ids) == TINY_ITEMS - 2
    rec = lookalike.load(bundle_copy)
    # Rows were renumbered: every item's own vector finds itself at distance 0.
    distances, rows = rec.index.search(rec.embeddings, 1)
    assert (rows[:, 0] == np.arange(len(ids))).all() and np.allclose(distances[:, 0], 0, atol=1e-4)
    for result in rec.recommend_items(ids, k=len(ids) - 1, collapse_duplicates=False):
        assert {"101", "110"}.isdisjoint(r.id for r in result.results)
    # The running app follows CURRENT: the removed items are gone from every listing.
    listed = app_client.get("/api/items?limit=200").json()
    assert listed["total"] == TINY_ITEMS - 2
    assert "101" not in {item["id"] for item in listed["items"]}
    assert app_client.get("/api/items/101").status_code == 404
    similar = app_client.get("/api/items/102/similar?k=50").json()["results"]
    assert "101" not in {r["id"] for r in similar}


def test_remove_unknown_only_or_everything(bundle_copy):
    assert remove_items(bundle_copy, ["nope"]).version is None
    with pytest.raises(UpdateError, match="at least one"):
        remove_items(bundle_copy, read_bundle(bundle_copy).items.ids)
    assert len(state(bundle_copy)) == TINY_ITEMS


# --- locking and readers --------------------------------------------------------------------------
def test_lock_times_out_while_another_writer_holds_it(bundle_copy, new_photos):
    with bundle_lock(bundle_copy):
        with pytest.raises(BundleBusyError, match="another writer"):
            add_items(bundle_copy, [new_photos["purple-circle"]], lock_timeout=0.2)
    assert add_items(bundle_copy, [new_photos["purple-circle"]], lock_timeout=1).added


def test_concurrent_writers_lose_nothing(bundle_copy, new_photos):
    errors = []

    def add(ids):
        try:
            add_items(bundle_copy, [new_photos["purple-circle"]], ids=ids)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=([f"t{i}"],)) for i in range(3)]
    for thread in threads:
        thread.start()
    remove_items(bundle_copy, ["101"])
    for thread in threads:
        thread.join()
    assert not errors
    ids = state(bundle_copy)
    assert {"t0", "t1", "t2"} <= set(ids) and "101" not in ids and len(ids) == TINY_ITEMS + 2


def test_readers_see_the_old_or_the_new_catalog_never_a_mix(bundle_copy, new_photos, monkeypatch):
    old = read_bundle(bundle_copy).items.ids
    new = [*old, "r-1", "r-2"]
    monkeypatch.setenv("LOOKALIKE_TEST_SLOW_UPDATE", "0.03")  # stretch the writer's stages
    writer = threading.Thread(
        target=add_items,
        args=(bundle_copy, list(new_photos.values())),
        kwargs={"ids": ["r-1", "r-2"]},
    )
    seen = []
    writer.start()
    while writer.is_alive() or not seen:
        rec = lookalike.load(bundle_copy)
        assert rec.items.ids in (old, new)
        assert len(rec.embeddings) == rec.index.ntotal == len(rec.items)
        seen.append(len(rec))
    writer.join()
    assert set(seen) <= {len(old), len(new)} and lookalike.load(bundle_copy).items.ids == new
    assert len(seen) > 3  # the reader really ran during the update


# --- crash safety: SIGKILL a writer at every step -------------------------------------------------
# One worker process imports everything once, then forks a fresh writer per kill point (a
# python start-up per point would cost seconds each). It runs no torch op before forking.
WORKER = r"""
import json, os, sys
import torch
import lookalike.encoders.cae, lookalike.updates as updates
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.dup2(1, 2)  # the stage markers (stderr) reach the test on stdout
        torch.set_num_threads(1)
        os.environ[updates.SLOW_ENV] = job["slow"]
        try:
            if job["op"] == "add":
                updates.add_items(job["bundle"], job["images"], ids=job["ids"])
            else:
                updates.remove_items(job["bundle"], job["ids"])
        except BaseException:
            os._exit(1)
        os._exit(0)
    os.write(1, f"pid {pid}\n".encode())  # whole lines in one write: the child shares the pipe
    os.write(1, f"exit {os.waitpid(pid, 0)[1]}\n".encode())
"""
ADD_STAGES = ["locked", "read", "decoded", "encoded", "indexed", "written", "staged", "renamed",
              "published", "done"]  # fmt: skip
REMOVE_STAGES = ["locked", "read", "indexed", "written", "staged", "renamed", "published", "done"]
SLOW = 0.05


class Worker:
    """The forking worker and a thread that queues its output lines."""

    def __init__(self):
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        env.pop("LOOKALIKE_TEST_SLOW_UPDATE", None)
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def run(self, job: dict, kill_at: str | float) -> tuple[str | None, bool]:
        """Start ``job`` and SIGKILL it at stage ``kill_at`` (a marker name) or that many
        seconds after it started. Returns (last stage reached, whether it was killed)."""
        # Held at the stage to kill at (deterministic), or slowed everywhere for timed kills.
        slow = f"{kill_at}=60" if isinstance(kill_at, str) else str(SLOW)
        self.process.stdin.write(json.dumps({**job, "slow": slow}) + "\n")
        self.process.stdin.flush()
        pid = started = last = None
        due = sent = False  # the kill is due (stage seen before the pid) / was sent

        def kill() -> None:
            nonlocal sent
            with contextlib.suppress(ProcessLookupError):  # it may have just finished
                os.kill(pid, signal.SIGKILL)
            sent = True

        while True:
            wait = 60.0
            if isinstance(kill_at, float) and started is not None and not sent:
                wait = max(0.0, started + kill_at - time.monotonic())
            try:
                line = self.lines.get(timeout=wait)
            except queue.Empty:
                assert started is not None and not sent, "the worker went silent"
                kill()
                continue
            if line.startswith("pid "):  # (the child's first marker may come first)
                pid, started = int(line.split()[1]), time.monotonic()
                if due:
                    kill()
            elif line.startswith("lookalike-update-stage: "):
                last = line.split(": ", 1)[1]
                if last == kill_at and not sent:
                    if pid is None:
                        due = True
                    else:
                        kill()
            elif line.startswith("exit "):
                status = int(line.split()[1])
                assert os.WIFSIGNALED(status) or os.WEXITSTATUS(status) == 0, status
                return last, os.WIFSIGNALED(status)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def test_sigkilled_writers_leave_the_old_or_the_new_bundle(bundle_copy, new_photos, capsys):
    """Kill adds and removes at every stage (and at fixed delays): each time the bundle
    loads, passes check_bundle and holds exactly the old or exactly the new items."""
    images = [str(p) for p in new_photos.values()]
    worker = Worker()
    outcomes = []
    staging_seen = orphans_seen = 0
    try:
        plan = [("add", stage) for stage in ADD_STAGES]
        plan += [("add", delay) for delay in (0.0, 0.05, 0.2, 0.6)]
        plan += [("remove", stage) for stage in REMOVE_STAGES] + [("remove", 0.05)]
        for n, (op, kill_at) in enumerate(plan):
            before = state(bundle_copy)
            if op == "add":
                ids = [f"k{n}-a", f"k{n}-b"]
                job = {"op": "add", "bundle": str(bundle_copy), "images": images, "ids": ids}
                after = before + ids
            else:
                ids = [before[n % len(before)]]
                job = {"op": "remove", "bundle": str(bundle_copy), "ids": ids}
                after = [i for i in before if i not in ids]
            last, killed = worker.run(job, kill_at)
            now = state(bundle_copy)  # loads, counts agree, check_bundle == []
            assert now in (before, after), (op, kill_at, last)
            # Committed exactly when the pointer swap happened before the kill.
            if isinstance(kill_at, str):
                assert killed and last == kill_at
                assert (now == after) == (kill_at in ("published", "done")), (op, kill_at)
            assert lookalike.load(bundle_copy).items.ids == now
            with bundle_lock(bundle_copy, timeout=2):  # a dead writer holds no lock
                pass
            staging_seen += bool(list((bundle_copy / VERSIONS).glob(".staging-*")))
            live = current_version_dir(bundle_copy).name
            orphans_seen += any(
                p.name > live for p in (bundle_copy / VERSIONS).iterdir() if p.name[0] == "v"
            )
            outcomes.append((op, kill_at, last, killed, "new" if now == after else "old"))
    finally:
        worker.close()
    # Leftovers of killed writers (staging folders, unpublished versions) break nothing.
    assert staging_seen and orphans_seen
    final = add_items(bundle_copy, images, ids=["final-a", "final-b"])
    assert state(bundle_copy)[-2:] == ["final-a", "final-b"] and final.version
    with capsys.disabled():
        print(f"\nkill test: {len(outcomes)} kill points")
        for op, kill_at, last, killed, result in outcomes:
            at = f"{kill_at}s" if isinstance(kill_at, float) else kill_at
            how = "killed" if killed else "finished"
            print(f"  {op:6} kill at {at:9} last stage {last or '-':9} {how:8} -> {result}")
    assert sum(1 for o in outcomes if o[3]) >= 15  # most points really killed a writer
    assert {o[4] for o in outcomes} == {"old", "new"}


def create_app(bundle: Path, **kwargs):
    from lookalike.server.app import create_app as make

    return make(bundle, thumbnail_dir=bundle.parent / "thumbs", api_key_env=None, **kwargs)


def test_api_add_and_delete_serve_the_new_version(bundle_copy, new_photos, tiny_catalog):
    client = TestClient(create_app(bundle_copy, api_key=API_KEY), raise_server_exceptions=False)
    key = {"X-API-Key": API_KEY}
    photo = new_photos["purple-circle"].read_bytes()
    response = client.post(
        "/api/items",
        files={"image": ("purple.jpg", photo, "image/jpeg")},
        data={"id": "api-1", "metadata": json.dumps({"Colour": "Purple"}), "Gender": "Women"},
        headers=key,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["item"]["metadata"] == {"Colour": "Purple", "Gender": "Women"}
    assert body["items"] == TINY_ITEMS + 1
    # Immediately served: browsing, the image itself and photo search all see it.
    assert client.get("/healthz").json()["items"] == TINY_ITEMS + 1
    assert client.get("/api/items/api-1/image").content == photo
    found = client.post("/api/recommend?k=1", files={"image": ("q.jpg", photo, "image/jpeg")})
    assert found.json()["results"][0]["id"] == "api-1"

    copy = (tiny_catalog / "Apparel" / "101.jpg").read_bytes()
    dup = client.post("/api/items", files={"image": ("c.jpg", copy, "image/jpeg")}, headers=key)
    assert dup.status_code == 201
    assert {(d["of"], d["kind"]) for d in dup.json()["duplicates"]} == {("101", "exact")}
    again = client.post("/api/items", files={"image": ("c.jpg", copy, "image/jpeg")}, headers=key)
    assert again.status_code == 409 and again.json()["error"] == "id_exists"

    auth = {"Authorization": f"Bearer {API_KEY}"}
    assert client.delete("/api/items/api-1", headers=auth).json()["items"] == TINY_ITEMS + 1
    assert client.get("/api/items/api-1").status_code == 404
    assert client.delete("/api/items/api-1", headers=auth).status_code == 404
    assert state(bundle_copy)[-1] == dup.json()["item"]["id"]


def test_api_updates_need_a_configured_and_matching_key(bundle_copy, new_photos, monkeypatch):
    photo = {"image": ("p.jpg", new_photos["purple-circle"].read_bytes(), "image/jpeg")}
    closed = TestClient(create_app(bundle_copy))
    for response in (
        closed.post("/api/items", files=photo, headers={"X-API-Key": "anything"}),
        closed.delete("/api/items/101", headers={"X-API-Key": "anything"}),
    ):
        assert response.status_code == 403 and response.json()["error"] == "updates_disabled"

    monkeypatch.setenv("LOOKALIKE_API_KEY", API_KEY)
    from lookalike.server.app import create_app as make

    client = TestClient(make(bundle_copy, thumbnail_dir=bundle_copy.parent / "t"))
    latin1 = "\xfc".encode("latin-1") * 3
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"},
                    {"Authorization": f"Basic {API_KEY}"}, {"X-API-Key": latin1}):  # fmt: skip
        response = client.post("/api/items", files=photo, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert client.delete("/api/items/101", headers=headers).status_code == 401
    assert len(state(bundle_copy)) == TINY_ITEMS  # nothing changed
    ok = client.post("/api/items", files=photo, headers={"X-API-Key": API_KEY})
    assert ok.status_code == 201


def test_api_rejects_bad_ids_and_metadata(bundle_copy, new_photos):
    client = TestClient(create_app(bundle_copy, api_key=API_KEY), raise_server_exceptions=False)
    photo = {"image": ("p.jpg", new_photos["purple-circle"].read_bytes(), "image/jpeg")}
    key = {"X-API-Key": API_KEY}
    for data, error in [
        ({"id": "../../etc/passwd"}, "invalid_id"),
        ({"id": "a\x00b"}, "invalid_id"),
        ({"id": "x" * 300}, "invalid_id"),
        ({"metadata": "[1, 2]"}, "invalid_metadata"),
        ({"metadata": "{not json"}, "invalid_metadata"),
        ({"metadata": '{"Colour": {"nested": 1}}'}, "invalid_metadata"),
        ({"k": "5"}, "invalid_metadata"),
        ({"Colour": "x" * 5000}, "invalid_metadata"),
    ]:
        response = client.post("/api/items", files=photo, data=data, headers=key)
        assert response.status_code == 422, (data, response.text)
        assert response.json()["error"] == error
    assert client.post("/api/items", data={"id": "x"}, headers=key).status_code in (415, 422)
    assert len(state(bundle_copy)) == TINY_ITEMS


def test_the_app_swaps_whole_catalogs_and_keeps_serving_through_a_bad_pointer(
    bundle_copy, new_photos, caplog
):
    app = create_app(bundle_copy)
    client = TestClient(app, raise_server_exceptions=False)
    live = app.state.live
    old = live.catalog
    assert client.get("/healthz").json()["items"] == TINY_ITEMS

    add_items(bundle_copy, [new_photos["purple-circle"]], ids=["swap-1"])  # another process
    assert client.get("/api/items/swap-1").status_code == 200
    new = live.catalog
    assert new is not old and app.state.catalog is new and live.reloads == 1
    assert len(old.recommender) == TINY_ITEMS  # requests holding the old one are unaffected
    assert new.recommender.encoder is old.recommender.encoder  # same files: reused

    # A pointer to a missing version (a half-copied bundle): keep serving, log, retry later.
    (bundle_copy / "CURRENT").write_text("v999999\n")
    assert client.get("/healthz").json()["items"] == TINY_ITEMS + 1
    assert "could not load the new version" in caplog.text
    (bundle_copy / "CURRENT").write_text(new.version + "\n")
    time.sleep(1.1)  # past the retry delay
    assert client.get("/api/items/swap-1").status_code == 200 and live.catalog is new


def test_serve_api_key_env_must_name_a_set_variable(bundle_copy, capsys, monkeypatch):
    from lookalike.cli import main

    monkeypatch.delenv("LOOKALIKE_TEST_UNSET_KEY", raising=False)
    status = main(
        ["serve", "--bundle", str(bundle_copy), "--api-key-env", "LOOKALIKE_TEST_UNSET_KEY"]
    )
    assert status == 2 and "LOOKALIKE_TEST_UNSET_KEY" in capsys.readouterr().err


def test_replaced_versions_are_freed_after_reloads(bundle_copy, new_photos):
    """The served catalog holds only the live version: after many updates the old
    recommenders (items, embeddings, index) are garbage, not kept by caches or closures."""
    import gc
    import weakref

    from lookalike.recommend import Recommender

    app = create_app(bundle_copy, api_key=API_KEY)
    client = TestClient(app, raise_server_exceptions=False)
    key = {"X-API-Key": API_KEY}
    photo = new_photos["purple-circle"].read_bytes()
    seen = []
    for n in range(4):
        seen.append(weakref.ref(app.state.live.catalog.recommender))
        added = client.post("/api/items", files={"image": ("p.jpg", photo, "image/jpeg")},
                            data={"id": f"gc-{n}"}, headers=key)  # fmt: skip
        assert added.status_code == 201
        assert client.get(f"/api/items/gc-{n}/similar?k=2").status_code == 200
        assert client.get("/api/facets").status_code == 200
        assert client.delete(f"/api/items/gc-{n}", headers=key).status_code == 200
    gc.collect()
    assert app.state.live.reloads == 8
    assert [ref() is None for ref in seen] == [True] * 4
    alive = [
        o
        for o in gc.get_objects()
        if type(o) is Recommender and Path(o.data.bundle_dir) == bundle_copy
    ]
    assert alive == [app.state.live.catalog.recommender]


# --- ids and garbage (issue 15) ----------------------------------------------------------
@pytest.mark.parametrize(
    "item_id, reason",
    [
        ("1636\u200b", "U+200B"),  # zero-width space: looks like 1636
        ("\u202eevil", "U+202E"),  # right-to-left override
        ("a\u2066b\u2069", "U+2066"),  # bidi isolate
        ("x\ufe0f", "U+FE0F"),  # variation selector
        ("a\u00a0b", "U+00A0"),  # no-break space
        ("a\u2028b", "U+2028"),  # line separator
        ("a\ue000", "U+E000"),  # private use
        ("a\ud800", "U+D800"),  # lone surrogate
        ("a\tb", "U+0009"),
        ("e\u0301", "NFC"),  # decomposed: only valid once normalised
        ("x" * 201, "longer than 200"),
    ],
)
def test_check_item_id_refuses_lookalike_and_invisible_characters(item_id, reason):
    from lookalike.updates import check_item_id

    assert reason in (check_item_id(item_id) or "")


def test_ids_are_stored_in_nfc(bundle_copy, new_photos):
    from lookalike.updates import check_item_id, normalize_item_id

    assert normalize_item_id("e\u0301") == "\u00e9" and check_item_id("\u00e9") is None
    assert check_item_id("Caf\u00e9 42 \u65e5\u672c") is None  # ordinary text is fine
    report = add_new_items(
        bundle_copy,
        [NewItem("cafe\u0301", new_photos["purple-circle"].read_bytes())],
        store_images=True,
    )
    assert report.added == ["caf\u00e9"] and "caf\u00e9" in read_bundle(bundle_copy).items.ids


def test_churn_leaves_exactly_the_files_kept_versions_use(bundle_copy, new_photos):
    """Adds and removes through the library, failed adds among them: afterwards the files
    under images/ are exactly those the kept versions name, and thumbnails of removed
    items are gone."""
    from lookalike.bundle import find_orphans, kept_image_paths

    photos = [p.read_bytes() for p in new_photos.values() if p.suffix == ".jpg"]
    thumbs = bundle_copy / "thumbnails" / "00"
    thumbs.mkdir(parents=True)
    (thumbs / f"{'0' * 32}-deadbeef.jpg").write_bytes(b"a thumbnail of nothing kept")
    for n in range(6):
        data = photos[n % len(photos)] + bytes([n])  # a new file (and sha256) each time
        report = add_new_items(bundle_copy, [NewItem(f"churn-{n}", data)], store_images=True)
        assert report.added == [f"churn-{n}"]
        if n % 2:
            assert remove_items(bundle_copy, [f"churn-{n}"]).removed == [f"churn-{n}"]
    # A failed add stores its image, then its version cannot be written (a lone surrogate
    # in the metadata): nothing of it may stay.
    with pytest.raises(UnicodeEncodeError):
        add_new_items(
            bundle_copy,
            [NewItem("bad", photos[0] + b"bad", {"Title": "x\ud800"})],
            store_images=True,
        )
    kept = [Path(p) for p in kept_image_paths(bundle_copy)]
    used = {p.name for p in kept if p.parent == (bundle_copy / IMAGES_DIR).resolve()}
    on_disk = {p.name for p in (bundle_copy / IMAGES_DIR).iterdir()}
    assert on_disk == used and len(used) >= 2
    assert find_orphans(bundle_copy).files == []
    assert not list(thumbs.iterdir())
    assert check_bundle(bundle_copy) == []
