"""lookalike.cli.update: `lookalike add` and `lookalike remove`."""

from __future__ import annotations

import json

from lookalike.cli import main
from tests.test_updates import new_photos, state  # noqa: F401 - new_photos is a fixture


def test_cli_add_and_remove(bundle_copy, new_photos, tmp_path, capsys):  # noqa: F811
    junk = tmp_path / "junk.jpg"
    junk.write_text("<html>not found</html>")
    folder = new_photos["purple-circle"].parent
    csv = tmp_path / "rows.csv"
    csv.write_text("id,filename,Colour\nc-1,purple-circle.jpg,Purple\n")

    status = main(["add", "--bundle", str(bundle_copy), str(folder), str(junk), "--metadata",
                   str(csv), "--quiet"])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 1  # something was skipped
    assert "skipped" in out and "junk.jpg" in out and "HTML" in out
    assert "added 2 item(s)" in out
    ids = state(bundle_copy)
    assert "c-1" in ids and "orange-square" in ids

    assert main(["remove", "--bundle", str(bundle_copy), "c-1", "zzz", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["removed"] == ["c-1"] and report["unknown_ids"] == ["zzz"]
    assert main(["add", "--bundle", str(tmp_path / "none"), str(junk)]) == 2
    assert "no lookalike bundle" in capsys.readouterr().err
