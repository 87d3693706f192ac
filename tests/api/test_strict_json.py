"""The strict JSON parse's C path agrees with its rule book (billing/api/json_body.py).

``parse_strict_json`` decodes a body with msgspec when it can be sure the
result is what json.loads with the strict hooks makes of it, and leaves every
other body (and every refusal's wording) to json.loads. Hypothesis writes the
texts by hand, so they hold what a JSON library never emits: repeated keys,
escapes, odd spaces and numbers, truncation.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.api.json_body import (
    _ABSENT,
    BodyRefused,
    _fast_document,
    _parse_with_json,
    parse_strict_json,
)

SPACE = st.sampled_from(["", "", " ", "\n", "\t", "\r\n", "\x0c", "\u00a0"])
STRING = st.one_of(
    st.sampled_from(["a", "events", "", "é", "a b", 'q"q', "back\\slash", "\x7f"]),
    st.text(max_size=6),
).map(lambda s: json.dumps(s, ensure_ascii=False))
ESCAPED = st.sampled_from([r'"\u0041"', r'"\ud800"', r'"\n"', r'"\/"', r'"\x41"', '"\t"'])
NUMBER = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    st.sampled_from(["-0", "0e0", "1E400", "1e-400", "01", "1.", ".5", "+1", "1e99999999999"]),
)
LITERAL = st.sampled_from(["true", "false", "null", "NaN", "Infinity", "-Infinity", "nul"])
KEY = st.sampled_from(['"a"', '"b"', '"events"', '""', r'"\u0061"', '"a\\"b"'])


def _container(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(KEY, SPACE, inner).map(lambda p: f"{p[0]}{p[1]}:{p[2]}")
    comma = st.sampled_from([",", ", ", ",\n"])
    return st.one_of(
        st.tuples(st.lists(inner, max_size=4), comma).map(lambda x: "[" + x[1].join(x[0]) + "]"),
        st.tuples(st.lists(pair, max_size=4), comma).map(lambda x: "{" + x[1].join(x[0]) + "}"),
    )


VALUE = st.recursive(st.one_of(STRING, ESCAPED, NUMBER, LITERAL), _container, max_leaves=12)


@st.composite
def texts(draw: st.DrawFn) -> bytes:
    text = draw(SPACE) + draw(VALUE) + draw(SPACE)
    damage = draw(st.sampled_from(["none", "none", "none", "cut", "junk", "bom", "bytes"]))
    if damage == "cut" and text:
        text = text[: draw(st.integers(0, len(text) - 1))]
    elif damage == "junk":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from([",", "}", "]", '"', "\\", "\x00"])) + text[at:]
    elif damage == "bom":
        text = "\ufeff" + text
    raw = text.encode("utf-8", "surrogatepass")
    if damage == "bytes":
        raw += draw(st.sampled_from([b"\xff", b"\xc0\x80", b"\xed\xa0\x80"]))
    return raw


def _typed(value: Any) -> Any:
    """``value`` with each number's type kept (1 == Decimal(1) == True in Python)."""
    if isinstance(value, dict):
        return ("dict", [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    if isinstance(value, Decimal):
        return ("decimal", str(value))
    return (type(value).__name__, value)


@settings(max_examples=1500)
@given(texts())
def test_the_c_path_accepts_only_what_json_loads_accepts_alike(raw: bytes) -> None:
    fast = _fast_document(raw)
    if fast is _ABSENT:
        return
    assert _typed(fast) == _typed(_parse_with_json(raw))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1, "a": 2}',
        b'{"a": {"b": "x", "b": "y"}}',
        b'[{"a": "1"}, {"a": "2", "a": "3"}]',
        b'{"a": NaN}',
        b'"\\ud800"',
        b"[" * 300 + b"]" * 300,
        b'{"a": "say \\"hi\\""}',
        b"\xef\xbb\xbf{}",
    ],
)
def test_what_the_c_path_leaves_to_json_loads(raw: bytes) -> None:
    assert _fast_document(raw) is _ABSENT


def test_common_bodies_take_the_c_path() -> None:
    body = b'{"endpoint": "openAI", "model": "gpt-4o", "tokens": {"prompt": 10}, "x": 0.1}'
    assert _fast_document(body) == {
        "endpoint": "openAI",
        "model": "gpt-4o",
        "tokens": {"prompt": 10},
        "x": Decimal("0.1"),
    }


def test_refusals_keep_their_words() -> None:
    with pytest.raises(BodyRefused, match="duplicate key 'a'"):
        parse_strict_json(b'{"a": 1, "a": 2}')
    with pytest.raises(BodyRefused, match="NaN is not valid JSON"):
        parse_strict_json(b'{"a": NaN}')
    with pytest.raises(BodyRefused, match="nested too deeply"):
        parse_strict_json(b"[" * 100_000 + b"]" * 100_000)
