"""The fast decoder of POST /v1/usage agrees with the generic route (strict JSON, pydantic).

billing/usage/fast_body.py may only accept what the generic route accepts, with
the same events; everything else it hands back (None) for the generic route to
answer. Hypothesis writes bodies by hand, as text, so they can hold what a
JSON library would never emit: repeated keys, spaced colons, escapes, junk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from benchmarks.traffic import Traffic
from billing.api.json_body import BodyRefused, parse_strict_json
from billing.errors import BillingError
from billing.runtime import ConfigSnapshot, Runtime
from billing.settings import Settings
from billing.usage.fast_body import FastEvent, decode_usage
from billing.usage.router import _usage_request
from billing.usage.schemas import MAX_EVENTS, UsageBatchIn, UsageEventIn
from billing.usage.service import prepare_events
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG


@dataclass(frozen=True)
class Obj:
    """A JSON object as written: ordered pairs, a key may repeat."""

    pairs: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Style:
    comma: str
    colon: str
    ascii: bool


# Chances drawn from a seeded Random: hypothesis' own draws lean to the edges
# (0 far more often than 1 in 30), and most bodies must be valid for the check to bite.
CHANCE = st.randoms(use_true_random=True)


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], odds: float = 0.95) -> Any:
    """``good`` with the ``odds``, else ``bad``."""
    return CHANCE.flatmap(lambda chance: good if chance.random() < odds else bad)


STYLES = st.builds(
    Style,
    mostly(st.sampled_from([",", ", "]), st.just(" ,\n")),
    mostly(st.sampled_from([":", ": "]), st.sampled_from([" :", "\n:\t", ' : "'])),
    st.booleans(),
)


def write(value: Any, style: Style) -> str:
    if isinstance(value, Obj):
        inner = style.comma.join(
            f"{json.dumps(k, ensure_ascii=style.ascii)}{style.colon}{write(v, style)}"
            for k, v in value.pairs
        )
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + style.comma.join(write(v, style) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str) and value.startswith("RAW:"):
        return value[4:]  # literal JSON text (or not JSON at all)
    return json.dumps(value, ensure_ascii=style.ascii)


GOOD_TEXT = st.one_of(
    st.sampled_from(["e1", "alice", "message", "incomplete", "a b", "ü€", "a" * 200]),
    st.text(
        alphabet=st.characters(min_codepoint=0x20, exclude_categories=["Cs"]).filter(
            lambda c: c != "\x7f"
        ),
        max_size=6,
    ),
)
BAD_TEXT = st.one_of(
    st.sampled_from(["", "events", "a" * 201, None, 1, True, "RAW:NaN", "RAW:1.5"]),
    st.text(max_size=4),  # control characters, quotes, backslashes, surrogates
    st.text(alphabet="ab\x7f\n", max_size=3),
)
ID = mostly(GOOD_TEXT, BAD_TEXT)
COUNT = mostly(
    st.integers(min_value=0, max_value=10**9),
    st.sampled_from(
        [
            10**9 + 1,
            -1,
            2**64,
            True,
            None,
            "5",
            Decimal("1.0"),
            "RAW:1e2",
            "RAW:1e99999999999999999999",
        ]
    ),
)
WHEN = mostly(
    st.sampled_from(
        [
            "2026-12-05T10:00:00Z",
            "2026-12-05T10:00:00.123456789+01:00",
            "2026-12-05T10:00:00",
            1764928800,
            Decimal("1764928800.5"),
            None,
        ]
    ),
    st.sampled_from(["2026-12-05", "yesterday", "RAW:[]", "RAW:{}", True]),
)


def obj(fields: dict[str, st.SearchStrategy[Any]], required: dict[str, float] | None = None) -> Any:
    """Objects with some of ``fields`` (each in ``required`` with its own chance,
    the others 40%), sometimes a field twice, sometimes an unknown one."""
    required = required or {}

    @st.composite
    def build(draw: st.DrawFn) -> Obj:
        chance = draw(CHANCE)
        pairs = []
        for name, strategy in fields.items():
            if chance.random() < required.get(name, 0.4):
                pairs.append((name, draw(strategy)))
        if pairs and chance.random() < 0.03:
            name, _ = draw(st.sampled_from(pairs))
            pairs.append((name, draw(fields[name])))  # repeated key
        if chance.random() < 0.03:
            pairs.append(("extra", 1))
        return Obj(tuple(draw(st.permutations(pairs))))

    return build()


TOKENS = obj({k: COUNT for k in ("prompt", "completion", "cache_write", "cache_read")})
USAGE_VALUE = st.recursive(
    mostly(COUNT, st.sampled_from([Decimal("1.5"), "x", None])),
    lambda inner: st.one_of(st.lists(inner, max_size=2), obj({"a": inner, "b": inner})),
    max_leaves=4,
)
USAGE = obj(
    {
        k: USAGE_VALUE
        for k in ("prompt_tokens", "completion_tokens", "prompt_tokens_details", "input_tokens")
    },
    required={"prompt_tokens": 0.95},
)
PROVIDER = obj(
    {"format": st.sampled_from(["openai", "anthropic", "bedrock", "nope"]), "usage": USAGE},
    required={"format": 0.97, "usage": 0.97},
)
EVENT_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "event_id": ID,
    "user_id": ID,
    "endpoint": ID,
    "model": ID,
    "context": ID,
    "conversation_id": ID,
    "message_id": ID,
    "reservation_id": ID,
    "role": ID,
    "occurred_at": WHEN,
    "tokens": mostly(TOKENS, st.sampled_from([None, []])),
    "provider_usage": mostly(PROVIDER, st.none()),
}
SURE = 0.98
EVENT = obj(
    EVENT_FIELDS,
    required={
        **dict.fromkeys(("event_id", "user_id", "endpoint", "model"), SURE),
        "tokens": 0.85,
        "provider_usage": 0.15,
    },
)
BODY = st.one_of(
    EVENT,
    obj({"events": mostly(st.lists(EVENT, min_size=1, max_size=4), st.just([]))}, {"events": SURE}),
)


def _generic(raw: bytes) -> list[UsageEventIn] | None:
    """The generic route's events, or None where it refuses the body."""
    try:
        usage = _usage_request.validate_python(parse_strict_json(raw), context={MAX_EVENTS: 1000})
    except (BodyRefused, ValidationError, BillingError):  # BillingError: the batch size rule
        return None
    return usage.events if isinstance(usage, UsageBatchIn) else [usage]


def _read(event: Any) -> tuple[Any, ...]:
    """Everything prepare_events reads of an event (the normalized usage, or its refusal)."""
    try:
        normalized: Any = event.normalized()
        usage: Any = (normalized.counts, normalized.warnings, event.token_counts())
    except BillingError as exc:
        usage = (type(exc), exc.detail, exc.extra)
    fields = ("event_id", "user_id", "endpoint", "model", "context", "conversation_id")
    more = ("message_id", "reservation_id", "role", "occurred_at")
    return (*(getattr(event, name) for name in (*fields, *more)), usage)


def _fast(raw: bytes) -> list[FastEvent] | None:
    fast = decode_usage(raw)
    return [fast] if isinstance(fast, FastEvent) else fast


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BODY, STYLES)
def test_the_fast_decoder_accepts_only_what_the_generic_route_accepts(
    body: Obj, style: Style
) -> None:
    raw = write(body, style).encode("utf-8", "surrogatepass")
    fast, generic = _fast(raw), _generic(raw)
    event(f"generic {'accepts' if generic else 'refuses'}, fast {'accepts' if fast else 'passes'}")
    if fast is not None:
        assert generic is not None, raw
        assert [_read(e) for e in fast] == [_read(e) for e in generic], raw
    elif generic is not None:
        # Left to the generic route only for what the fast one cannot be sure of.
        plain = b"\\" not in raw and (b'"events"' not in raw or body.pairs[0][0] == "events")
        assert not plain, raw


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 50), st.integers(0, 2**16))
def test_traffic_bodies_take_the_fast_path(count: int, seed: int) -> None:
    """What make bench sends (and what clients send: compact JSON) never falls back."""
    raw = orjson.dumps({"events": Traffic(seed=seed).events(count)})
    fast, generic = _fast(raw), _generic(raw)
    assert fast is not None and generic is not None
    assert [_read(e) for e in fast] == [_read(e) for e in generic]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"events": [], "events": [{"event_id": "e"}]}',
        b'{"event_id":"e","event_id":"f","user_id":"u","endpoint":"x","model":"m","tokens":{}}',
        b'{"event_id":"e","user_id":"u","endpoint":"x","model":"m","tokens":{"prompt":1,"prompt":2}}',
        b'{"event_id":"e","user_id":"u","endpoint":"x","model":"m","tokens" :{}, "tokens":{}}',
        b'{"event_id":"e\\n","user_id":"u","endpoint":"x","model":"m","tokens":{}}',
        b'{"event_id":"e\x7f","user_id":"u","endpoint":"x","model":"m","tokens":{}}',
        b'{"event_id":"e","user_id":"u","endpoint":"x","model":"m","tokens":{"prompt":NaN}}',
        b'{"event_id":"e","user_id":"u","endpoint":"x","model":"m","tokens":{"prompt":1.0}}',
        b'{"event_id":"e","user_id":"u","endpoint":"x","model":"m"}',
    ],
)
def test_refused_bodies_are_left_to_the_generic_route(raw: bytes) -> None:
    """Repeated keys (however spaced), control characters, non-integers, no tokens."""
    assert decode_usage(raw) is None
    assert _generic(raw) is None


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConfigSnapshot]:
    folder = tmp_path_factory.mktemp("fast-body")
    config = folder / "librechat.yaml"
    config.write_text(CLAUDE_CONFIG, encoding="utf-8")
    runtime = Runtime(Settings(database_url=f"sqlite:///{folder / 'unused.db'}", config=config))
    try:
        yield runtime.snapshot
    finally:
        runtime.close()


def test_both_routes_write_the_same_rows(snapshot: ConfigSnapshot) -> None:
    now = datetime(2026, 12, 5, 12, tzinfo=UTC)
    body = {
        "events": [
            {
                "event_id": "e1",
                "user_id": "u1",
                "endpoint": "Claude-Compatible",
                "model": "claude-sonnet-4-5",
                "occurred_at": "2026-12-05T11:00:00.5+01:00",
                "tokens": {"prompt": 1000, "cache_write_1h": 30},
            },
            {
                "event_id": "e2",
                "user_id": "u2",
                "endpoint": "Claude-Compatible",
                "model": "claude-sonnet-4-5",
                "context": "incomplete",
                "reservation_id": "res_1",
                "role": "ADMIN",
                "provider_usage": {
                    "format": "anthropic",
                    "usage": {"input_tokens": 10, "cache_read_input_tokens": 5},
                },
            },
        ]
    }
    raw = orjson.dumps(body)
    fast, generic = _fast(raw), _generic(raw)
    assert fast is not None and generic is not None
    rows = [
        [(p.event_row, p.ledger_rows, p.cost, p.occurred_at, p.warnings) for p in priced]
        for priced in (
            prepare_events(snapshot, fast, now),  # type: ignore[arg-type]
            prepare_events(snapshot, generic, now),
        )
    ]
    assert rows[0] == rows[1]
    assert rows[0][0][3] == datetime(2026, 12, 5, 10, 0, 0, 500000, tzinfo=UTC)


def test_over_http_a_repeated_key_in_a_complete_event_is_still_refused(
    make_client: AppFactory,
) -> None:
    """The one rule msgspec does not keep: the generic route's refusal, word for word."""
    client = make_client(CLAUDE_CONFIG)
    good = (
        b'"event_id":"e1","user_id":"u1","endpoint":"Claude-Compatible","model":"claude-sonnet-4-5"'
    )
    for raw, key in (
        (b'{"events":[{' + good + b',"tokens":{"prompt":1,"prompt":1000000}}]}', "prompt"),
        (b"{" + good + b',"user_id":"u2","tokens":{}}', "user_id"),
    ):
        response = client.post(
            "/v1/usage", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        assert response.json()["detail"] == f"body: duplicate key '{key}' in a JSON object"
    assert client.get("/v1/balances/u1").status_code == 404  # nothing was recorded
