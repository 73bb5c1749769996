"""The bounded JSON parser (server/jsonbody.py): limits hold before json.loads could recurse,
strings must be valid Unicode, messages say which limit - plus property tests over
arbitrary text and deep or wide values."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lookalike.server.jsonbody import (
    MAX_DEPTH,
    JsonBodyError,
    check_text,
    nesting_depth,
    parse_json,
)


def test_parses_ordinary_json():
    assert parse_json(b'{"liked": ["1", 2], "k": 5.5, "x": null}') == {
        "liked": ["1", 2],
        "k": 5.5,
        "x": None,
    }
    assert parse_json('"caf\u00e9"') == "caf\u00e9"


@pytest.mark.parametrize(
    "raw, depth",
    [
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [[{}]]}', 4),
        (b'["[[[[[[[[[[", "{{{{"]', 1),  # brackets inside strings do not count
        (rb'["\"[[[["]', 1),  # nor after an escaped quote
    ],
)
def test_nesting_depth(raw, depth):
    assert nesting_depth(raw) == depth


def test_deep_nesting_refused_before_parsing():
    # 2 KB that make json.loads raise RecursionError.
    for raw in (b"[" * 1000 + b"]" * 1000, b'{"a":' * 5000 + b"1" + b"}" * 5000):
        with pytest.raises(JsonBodyError, match="nests arrays/objects .* deep; at most 8"):
            parse_json(raw)
    deepest_ok = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert parse_json(deepest_ok) is not None


def test_lone_surrogates_refused_with_their_place():
    with pytest.raises(JsonBodyError, match=r"the body\.liked\[0\] is not valid Unicode.*D800"):
        parse_json(rb'{"liked": ["\ud800"]}')
    with pytest.raises(JsonBodyError, match=r"Colour\[0\] is not valid Unicode.*DFFF"):
        parse_json(rb'{"filters": {"Colour": ["\udfff"]}}')
    with pytest.raises(JsonBodyError, match="a key of the body is not valid Unicode"):
        parse_json(rb'{"\ud800": 1}')
    # A proper pair is one character, and fine.
    assert parse_json(rb'["\ud83d\ude00"]') == ["\U0001f600"]


def test_limits_on_size_values_and_keys():
    with pytest.raises(JsonBodyError) as err:
        parse_json(b"[" + b"1," * 200_000 + b"1]", max_bytes=1024)
    assert err.value.too_large and "over the 1 KB limit" in str(err.value)
    with pytest.raises(JsonBodyError, match="more than 100 values"):
        parse_json(json.dumps(list(range(500))), max_items=100)
    with pytest.raises(JsonBodyError, match="300 keys; at most 256"):
        parse_json(json.dumps({str(i): i for i in range(300)}))
    with pytest.raises(JsonBodyError, match="appears twice"):
        parse_json(b'{"k": 1, "k": 2}')


def test_bad_bytes_and_bad_json_are_named():
    with pytest.raises(JsonBodyError, match="not UTF-8 text .*0xff at offset 1"):
        parse_json(b'"\xff"')
    with pytest.raises(JsonBodyError, match="not valid JSON"):
        parse_json(b"{not json")
    with pytest.raises(JsonBodyError, match="not valid JSON"):
        parse_json(b"1" * 5000)  # past Python's integer digit limit
    with pytest.raises(JsonBodyError, match="not valid Unicode"):
        check_text("ok \udc80", "a form field")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_parse_or_raise_json_body_error(raw):
    try:
        parse_json(raw, max_bytes=200)
    except JsonBodyError:
        pass  # never RecursionError, UnicodeError or anything else


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=100, deadline=None)
@given(json_values, st.integers(0, 40))
def test_nesting_is_measured_exactly(value, wrap):
    wrapped = value
    for _ in range(wrap):
        wrapped = [wrapped]
    raw = json.dumps(wrapped).encode()
    depth = nesting_depth(raw)
    try:
        assert parse_json(raw) == wrapped
        assert depth <= MAX_DEPTH
    except JsonBodyError as exc:
        assert depth > MAX_DEPTH or "values" in str(exc) or "keys" in str(exc), exc
