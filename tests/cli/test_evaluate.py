"""lookalike.cli.evaluate: `lookalike evaluate`."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import run
from tests.tolerances import approx


def test_evaluate_writes_a_report(tiny_bundle, tmp_path, capsys):
    split = tmp_path / "split.csv"
    test_ids = ["101", "106", "111", "116", "119", "124"]
    rows = [f"{i},{'test' if str(i) in test_ids else 'train'}" for i in range(101, 125)]
    split.write_text("ProductId,split\n" + "\n".join(rows) + "\n")
    out = tmp_path / "report"

    code, _, _ = run(
        capsys, "evaluate", "--bundle", tiny_bundle, "--split", split, "--out", out,
        "--no-robustness", "--quiet",
    )  # fmt: skip

    assert code == 0
    payload = json.loads((out / "report.json").read_text())
    assert payload["queries"] == 6
    names = [r["name"] for r in payload["results"]]
    assert names[0] == "cae (this bundle)"
    assert "raw 32x32 pixels" in names and "chance (random vectors)" in names
    metrics = payload["results"][0]["metrics"]
    assert 0.0 <= metrics["P@1 ProductType"] <= 1.0
    assert "mAP@10 ProductType" in metrics and "P@10 Colour" in metrics
    assert "robustness" not in payload
    markdown = (out / "report.md").read_text()
    assert "| cae (this bundle) |" in markdown and "P@1 ProductType" in markdown
    assert (out / "grid_1.png").is_file()
    assert not (tiny_bundle / "report").exists()


def test_evaluate_with_outside_photos(tiny_bundle, tiny_catalog, tmp_path, capsys):
    from tests.test_labelled import make_labelled_folder

    folder = make_labelled_folder(
        tmp_path / "q", tiny_catalog, ["101", "110", "120"], ["dev", "dev", "archive"]
    )
    out = tmp_path / "report"

    code, stdout, _ = run(
        capsys, "evaluate", "--bundle", tiny_bundle, "--out", out, "--no-robustness",
        "--no-baselines", "--queries", folder, "--queries-min-items", "1",
    )  # fmt: skip

    assert code == 0
    payload = json.loads((out / "report.json").read_text())
    photos = payload["outside_photos"]
    assert photos["split"] == "dev" and photos["scored"] == 2
    assert photos["metrics"]["all"]["P@1 ProductType"] == approx(1.0)
    assert "Outside photos" in (out / "report.md").read_text()
    assert "| cae (this bundle) | all | 2 |" in stdout
    assert payload["query_expansion"] is True


def test_evaluate_without_query_expansion_says_so(tiny_bundle, tmp_path, capsys):
    out = tmp_path / "report"
    code, _, _ = run(
        capsys, "evaluate", "--bundle", tiny_bundle, "--out", out, "--no-baselines",
        "--no-expansion",
    )  # fmt: skip
    payload = json.loads((out / "report.json").read_text())
    assert code == 0 and payload["query_expansion"] is False
    assert "- query_expansion: False" in (out / "report.md").read_text()


def test_evaluate_with_an_unknown_query_split_is_a_one_line_error(
    tiny_bundle, tiny_catalog, tmp_path, capsys
):
    from tests.test_labelled import make_labelled_folder

    folder = make_labelled_folder(tmp_path / "q", tiny_catalog, ["101"], ["dev"])
    code, _, err = run(
        capsys, "evaluate", "--bundle", tiny_bundle, "--out", tmp_path / "r", "--no-robustness",
        "--no-baselines", "--queries", folder, "--queries-split", "nope",
    )  # fmt: skip
    assert code == 2 and "no photos of split 'nope'" in err and "Traceback" not in err


def test_compare_bundles_of_products_with_several_photos(product_bundle, tmp_path, capsys):
    """--compare with multi-photo bundles (issue 18): the other bundle (here a copy, so its
    figures must equal this one's) is evaluated by the same product protocol."""
    import shutil

    other = tmp_path / "other"
    shutil.copytree(product_bundle, other)
    out = tmp_path / "report"
    code, _, err = run(
        capsys, "evaluate", "--bundle", product_bundle, "--compare", other, "--out", out,
        "--no-robustness", "--no-baselines", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    rows = json.loads((out / "report.json").read_text())["results"]
    names = [r["name"] for r in rows]
    assert names[0] == "cae (this bundle)" and "cae: photos ask, products answer" in names
    compared = [r for r in rows if r["name"] not in names[:1] and "photos ask" not in r["name"]]
    assert len(compared) == 1 and compared[0]["metrics"] == rows[0]["metrics"]


def test_evaluate_with_type_mapped_and_masked_folders(
    tiny_bundle, tiny_catalog, tmp_path, capsys, monkeypatch
):
    """Two --queries folders of other vocabularies (issue 26): amateur-photos-like labels
    mapped to catalog types, and street-photos-like label maps; both reported."""
    from lookalike.recommend import Recommender
    from tests.test_report import make_mapped_folder, make_masked_folder

    monkeypatch.setattr(Recommender, "recommend_look", None, raising=False)
    mapped = make_mapped_folder(tmp_path / "amateur", tiny_catalog)
    masked = make_masked_folder(tmp_path / "street")
    out = tmp_path / "report"

    code, stdout, err = run(
        capsys, "evaluate", "--bundle", tiny_bundle, "--out", out, "--no-robustness",
        "--no-baselines", "--queries", mapped, "--queries", masked,
    )  # fmt: skip

    assert code == 0, err
    payload = json.loads((out / "report.json").read_text())
    first, second = payload["query_sets"]
    assert payload["outside_photos"] == first
    assert first["protocol"] == "type_map" and first["scored"] == 4
    assert "result_ids" not in first
    labels = first["metrics"]["labels"]
    assert labels["none"]["P@10 ProductType"] == approx(0.0)
    own = labels["own"]["P@10 ProductType"]
    mean = first["metrics"]["mean over labels"]["P@10 ProductType"]
    assert mean == approx((1 + 0 + own) / 3)
    assert second["protocol"] == "street_masks" and second["garments"] == 3
    assert second["metrics"]["garment crop"]["all"]["P@10 ProductType"] == approx(1 / 3)
    assert second["metrics"]["whole photo"]["all"]["P@10 ProductType"] == approx(0.5)
    markdown = (out / "report.md").read_text()
    for text in ("labels mapped to catalog types", "| mean over labels | 3 labels |",
                 "| label: any | 2 |", "### Garment crop", "### Whole photo",
                 "| 2 | 0.500 | 0.500 |", "not available"):  # fmt: skip
        assert text in markdown, text
        assert text.lstrip("# ") in stdout, text


def test_evaluate_shopper_photos_output_is_unchanged_by_the_new_protocols(
    tiny_bundle, tiny_catalog, tmp_path, capsys
):
    from tests.test_labelled import make_labelled_folder

    folder = make_labelled_folder(tmp_path / "q", tiny_catalog, ["101", "110"], ["dev", "dev"])
    out = tmp_path / "report"
    code, _, _ = run(
        capsys, "evaluate", "--bundle", tiny_bundle, "--out", out, "--no-robustness",
        "--no-baselines", "--queries", folder, "--queries-min-items", "1", "--quiet",
    )  # fmt: skip
    payload = json.loads((out / "report.json").read_text())
    assert code == 0 and "query_sets" not in payload
    assert set(payload["outside_photos"]) == {
        "folder", "split", "photos", "scored", "unreadable", "metrics",
    }  # fmt: skip
    markdown = (out / "report.md").read_text()
    assert "## Outside photos (shopper-photo protocol)" in markdown
    assert "labels mapped" not in markdown and "Street photos" not in markdown


def _event_log(path):
    rows = ["user_id,item_id,event,timestamp"]
    for user in range(6):  # each buys two items before the cutoff, one again after it
        first, second = 101 + 3 * user, 102 + 3 * user
        rows += [
            f"u{user},{first},purchase,2020-08-0{1 + user}",
            f"u{user},{second},view,2020-08-2{user}",
            f"u{user},{first},purchase,2020-09-0{2 + user}",
        ]
    path.write_text("\n".join(rows) + "\nu9,nope,purchase,2020-08-01\n")
    return path


def test_evaluate_personal_on_a_real_log_split_on_time(tiny_bundle, tmp_path, capsys):
    log = _event_log(tmp_path / "log.csv")
    out = tmp_path / "time.json"

    code, stdout, _ = run(
        capsys, "evaluate-personal", "--bundle", tiny_bundle, "--interactions", log,
        "--cutoff", "2020-09-01", "--window", "28d", "--out", out, "--quiet",
    )  # fmt: skip

    assert code == 0
    assert "1 events of items not in the bundle skipped" in stdout
    assert "| buy again | 1.0000 | 1.000 | 1.000 |" in stdout  # everyone rebought their item
    payload = json.loads(out.read_text())
    assert payload["customers"] == 6 and payload["short"] == 6
    assert {"best-sellers, last 7 days", "visual, recent items", "blend"} <= set(payload["results"])
    assert not (tiny_bundle / "report" / "personal-time.json").exists()


def test_evaluate_personal_on_a_log_reports_user_errors(tiny_bundle, tmp_path, capsys):
    from tests.cli.conftest import assert_user_error

    log = _event_log(tmp_path / "log.csv")
    code, _, err = run(capsys, "evaluate-personal", "--bundle", tiny_bundle, "--cutoff", "2020")
    assert_user_error(code, err, "evaluate-personal", "--cutoff needs --interactions")
    code, _, err = run(capsys, "evaluate-personal", "--bundle", tiny_bundle, "--interactions", log)
    assert_user_error(code, err, "evaluate-personal", "--cutoff DATE")
    log.write_text("user_id,item_id,event,timestamp\nu1,101,purchase,yesterday\n")
    code, _, err = run(
        capsys, "evaluate-personal", "--bundle", tiny_bundle, "--interactions", log,
        "--cutoff", "2020-09-01",
    )  # fmt: skip
    assert_user_error(code, err, "evaluate-personal", "line 2", "bad timestamp 'yesterday'")


def test_evaluate_personal_rankers_are_fit_rankers_objectives():
    from lookalike.cli.parsers.evaluate import RANKERS
    from lookalike.personal_fit import OBJECTIVE, OBJECTIVES

    assert RANKERS[0] == OBJECTIVE
    assert set(RANKERS) == set(OBJECTIVES)


def test_evaluate_personal_with_the_tree_ranker(tiny_bundle, tmp_path, capsys, monkeypatch):
    from tests.cli.conftest import assert_user_error

    log = _event_log(tmp_path / "log.csv")
    args = ("evaluate-personal", "--bundle", tiny_bundle, "--interactions", log, "--cutoff",
            "2020-09-01", "--ranker", "trees", "--out", tmp_path / "t.json", "--quiet")  # fmt: skip
    code, stdout, _ = run(capsys, *args)
    assert code == 0 and "| buy again | 1.0000 |" in stdout
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    code, _, err = run(capsys, *args)
    assert_user_error(code, err, "evaluate-personal", "--ranker trees needs LightGBM")
    with pytest.raises(SystemExit) as stop:  # argparse's own usage error
        run(capsys, *args[:-5], "--ranker", "forest")
    assert stop.value.code == 2 and "invalid choice: 'forest'" in capsys.readouterr().err
