"""lookalike.cli.common: KEY=VALUE parsing, result tables and the reference catalog."""

from __future__ import annotations

import pytest

from lookalike.catalog import reference_catalog
from lookalike.cli.common import (
    UsageError,
    default_catalog,
    format_table,
    parse_key_values,
    parse_options,
)
from lookalike.recommend import QueryResult, Recommendation


def test_parse_key_values_splits_commas_and_merges_repeats():
    parsed = parse_key_values(["Gender=Women", "Colour=Red, Blue", "Colour=Black"], "--filter")

    assert parsed == {"Gender": ["Women"], "Colour": ["Red", "Blue", "Black"]}


@pytest.mark.parametrize("bad", ["Colour", "=Red", " =Red"])
def test_parse_key_values_names_the_option_in_its_error(bad):
    with pytest.raises(UsageError, match="--filter must look like COLUMN=VALUE"):
        parse_key_values([bad], "--filter")


def test_parse_options_reads_json_values_and_keeps_other_strings():
    options = parse_options(["epochs=5", "lr=0.001", "channels=[8,16]", "mode=fast"])

    assert options == {"epochs": 5, "lr": 0.001, "channels": [8, 16], "mode": "fast"}
    with pytest.raises(UsageError, match="OPTION=VALUE"):
        parse_options(["epochs"])


def test_format_table_aligns_columns_and_fills_missing_metadata():
    result = QueryResult(
        query="q",
        results=[
            Recommendation(rank=1, id="a", distance=0.5, path="a.jpg", metadata={"Colour": "Red"}),
            Recommendation(rank=2, id="long-id", distance=1.25, path="b.jpg", metadata={}),
        ],
    )

    lines = format_table(result, ["Colour"]).splitlines()

    assert lines[0].split() == ["rank", "id", "distance", "Colour"]
    assert lines[1].split() == ["1", "a", "0.5000", "Red"]
    assert lines[2].split() == ["2", "long-id", "1.2500"]
    assert lines[0].index("distance") == lines[1].index("0.5000") == lines[2].index("1.2500")


def test_default_catalog_is_the_reference_catalog_finder():
    assert default_catalog is reference_catalog
