"""POST /v1/usage: the published contract and the actual answers agree.

/openapi.json is what clients generate code from. The answer is built by one
mapper (``usage_answer``) and encoded once, not by FastAPI from the response
model, so nothing but these tests holds the two together: every kind of
outcome is checked against the published 200 schema, by construction (unit)
and as answered over HTTP by the real app.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any, get_args

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from billing.main import create_app
from billing.money import credits_str
from billing.pricing.types import TokenCounts
from billing.reservations.schemas import SettlementOutcome
from billing.reservations.types import Settlement
from billing.runtime import ConfigSnapshot, Runtime
from billing.settings import Settings
from billing.usage.normalize import CACHED_EXCEEDS_INPUT, UsageWarning
from billing.usage.schemas import (
    UsageEventIn,
    UsageMinimalResponse,
    UsageResponse,
    usage_answer,
    usage_minimal_answer,
)
from billing.usage.service import EventOutcome, prepare_events
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event
from tests.reservations.support import T0, lease, reserve, set_clock

NO_TRANSACTIONS = "transactions:\n  enabled: false\n"


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A JSON Schema validator for ``schema`` whose $refs resolve in ``document``."""
    return jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})


def _operation(document: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"]["/v1/usage"]["post"]
    return operation


def _answer_schema(document: dict[str, Any]) -> Any:
    media = _operation(document)["responses"]["200"]["content"]["application/json"]
    return _validator(document, media["schema"])


def _request_schema(document: dict[str, Any]) -> Any:
    return _validator(
        document, _operation(document)["requestBody"]["content"]["application/json"]["schema"]
    )


def _errors(validator: Any, instance: Any) -> list[str]:
    return [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(instance)]


# --- unit: every outcome kind, built by hand -----------------------------------


@pytest.fixture(scope="module")
def published(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Any], ConfigSnapshot]]:
    """The published document and a price book (no database is touched)."""
    folder = tmp_path_factory.mktemp("contract")
    config = folder / "librechat.yaml"
    config.write_text(CLAUDE_CONFIG, encoding="utf-8")
    settings = Settings(database_url=f"sqlite:///{folder / 'unused.db'}", config=config)
    runtime = Runtime(settings)
    try:
        yield create_app(settings, runtime).openapi(), runtime.snapshot
    finally:
        runtime.close()


def _cost(snapshot: ConfigSnapshot, endpoint: str, model: str, **tokens: int) -> dict[str, Any]:
    cost = snapshot.prices.price(endpoint, model, TokenCounts(**tokens), "message")
    return cost.to_json()


def _outcomes(snapshot: ConfigSnapshot) -> dict[str, EventOutcome]:
    """One outcome of every kind the service reports."""
    full = _cost(snapshot, "Claude-Compatible", "claude-sonnet-4-5", prompt=1000, completion=200)
    hour = _cost(snapshot, "Claude-Compatible", "claude-sonnet-4-5", prompt=10, cache_write_1h=100)
    free = _cost(snapshot, "Local", "llama3.1:8b", prompt=10)
    odd = UsageWarning(CACHED_EXCEEDS_INPUT, "provider_usage.usage.x", "cached above input")
    kinds = {
        "accepted": EventOutcome("e-acc", "accepted", full, 88_750_000_000),
        "duplicate": EventOutcome("e-dup", "duplicate", full, 88_750_000_000),
        "no balance (balances off)": EventOutcome("e-off", "accepted", full, None),
        "duplicate, no balance": EventOutcome("e-off2", "duplicate", full, None),
        "1-hour cache writes": EventOutcome("e-1h", "accepted", hour, -5),
        "free endpoint (no value_key)": EventOutcome("e-free", "accepted", free, 0),
        "with warnings": EventOutcome("e-warn", "accepted", full, 1, warnings=(odd, odd)),
    }
    for outcome in get_args(SettlementOutcome):
        held = None if outcome in ("not_found", "user_mismatch") else 6_000_000_000
        settlement = Settlement("res_1", outcome, held, 11_250_000_000)
        kinds[f"reservation {outcome}"] = EventOutcome(
            f"e-{outcome}", "accepted", full, 7, reservation=settlement
        )
    return kinds


def test_every_outcome_kind_matches_the_published_schema(
    published: tuple[dict[str, Any], ConfigSnapshot],
) -> None:
    document, snapshot = published
    schema = _answer_schema(document)
    kinds = _outcomes(snapshot)
    assert len(kinds) == 7 + 8  # every SettlementOutcome is covered
    for name, outcome in kinds.items():
        single = usage_answer([outcome])
        assert not _errors(schema, single), (name, _errors(schema, single))
        # The response model reads back exactly these keys and values.
        read_back = UsageResponse.model_validate(single).model_dump(mode="json", exclude_unset=True)
        assert read_back == single, name
    batch = usage_answer(list(kinds.values()))
    assert not _errors(schema, batch), _errors(schema, batch)
    assert (batch["accepted"], batch["duplicates"]) == (13, 2)
    assert "warnings" in batch["events"][6] and "warnings" not in batch["events"][0]


def test_the_published_schema_refuses_a_wrong_answer(
    published: tuple[dict[str, Any], ConfigSnapshot],
) -> None:
    """So the check above can fail: the schema is strict where the answer is."""
    document, snapshot = published
    schema = _answer_schema(document)
    good = usage_answer([_outcomes(snapshot)["reservation settled"]])
    result = good["events"][0]
    wrong = [
        {**good, "accepted": "1"},
        {**good, "events": [{**result, "status": "recorded"}]},
        {**good, "events": [{k: v for k, v in result.items() if k != "balance"}]},
        {**good, "events": [{**result, "balance": 12}]},
        {**good, "events": [{**result, "extra": 1}]},
        {**good, "events": [{**result, "reservation": {**result["reservation"], "outcome": "x"}}]},
        {**good, "events": [{**result, "cost": {**result["cost"], "total_credits": 1.5}}]},
        {**good, "events": [{**result, "warnings": [{"code": "c"}]}]},
    ]
    for answer in wrong:
        assert _errors(schema, answer), answer


def test_the_published_request_body_is_the_model(
    published: tuple[dict[str, Any], ConfigSnapshot],
) -> None:
    """Its examples validate; an empty batch, a batch of nothing but junk and a
    half-formed event do not, as the model refuses them."""
    document, _ = published
    schema = _request_schema(document)
    examples = _operation(document)["requestBody"]["content"]["application/json"]["examples"]
    for name, example in examples.items():
        assert not _errors(schema, example["value"]), name
    for body in ({"events": []}, {"events": [1]}, {"event_id": "e", "user_id": "u"}, []):
        assert _errors(schema, body), body


# --- over HTTP: the real app's answers ------------------------------------------


def _post(client: TestClient, body: Any) -> dict[str, Any]:
    response = client.post("/v1/usage", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_real_answers_match_the_published_schema(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    set_clock(client, T0)
    schema = _answer_schema(client.get("/openapi.json").json())
    theirs = reserve(client, user_id="u2")["reservation_id"]
    released = reserve(client)["reservation_id"]
    assert client.post(f"/v1/reservations/{released}/release").status_code == 200
    expiring = reserve(client, ttl_seconds=10)["reservation_id"]
    held = reserve(client)["reservation_id"]
    leased = lease(client)
    expiring_lease = lease(client, ttl_seconds=10)
    openai_usage = {
        "format": "openai",
        "usage": {"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 50}},
    }
    warned = {k: v for k, v in event("warned").items() if k != "tokens"}
    answers = {
        "single": _post(client, event("one")),
        "duplicate": _post(client, event("one")),
        "with warnings": _post(client, {**warned, "provider_usage": openai_usage}),
        "free endpoint": _post(client, event("free", endpoint="Local", model="llama3.1:8b")),
        "settled, then already_settled, in a batch": _post(
            client,
            {"events": [event("s1", reservation_id=held), event("s2", reservation_id=held)]},
        ),
        "released": _post(client, event("r1", reservation_id=released)),
        "user_mismatch": _post(client, event("r2", reservation_id=theirs)),
        "not_found": _post(client, event("r3", reservation_id="res_nope")),
        "batch with a duplicate": _post(client, {"events": [event("one"), event("b1")]}),
        "drawn": _post(client, event("l1", reservation_id=leased)),
    }
    set_clock(client, T0 + timedelta(minutes=5))
    answers["settled_expired"] = _post(client, event("r4", reservation_id=expiring))
    answers["drawn_expired"] = _post(client, event("l2", reservation_id=expiring_lease))
    off = make_client(NO_TRANSACTIONS)
    answers["balances off"] = _post(off, event("n1", endpoint="anthropic"))
    answers["balances off, batch"] = _post(
        off, {"events": [event("n1", endpoint="anthropic"), event("n2", endpoint="anthropic")]}
    )

    seen = set()
    for name, answer in answers.items():
        assert not _errors(schema, answer), (name, _errors(schema, answer))
        for result in answer["events"]:
            seen.add(result["status"])
            seen.add("balance null" if result["balance"] is None else "balance")
            if "warnings" in result:
                seen.add("warnings")
            if result["reservation"] is not None:
                seen.add(result["reservation"]["outcome"])
    assert seen == {"accepted", "duplicate", "balance", "balance null", "warnings"} | set(
        get_args(SettlementOutcome)
    )


# --- Prefer: return=minimal -----------------------------------------------------


def _minimal_validator(document: dict[str, Any]) -> Any:
    return _validator(document, {"$ref": "#/components/schemas/UsageMinimalResponse"})


def test_minimal_answers_match_the_published_schema(
    published: tuple[dict[str, Any], ConfigSnapshot],
) -> None:
    document, snapshot = published
    schema, minimal = _answer_schema(document), _minimal_validator(document)
    now = T0
    events = [
        UsageEventIn.model_validate(event(f"m{i}", user_id=("u1", "u2", "u3")[i % 3]))
        for i in range(6)
    ]
    priced = prepare_events(snapshot, events, now)
    odd = UsageWarning(CACHED_EXCEEDS_INPUT, "provider_usage.usage.x", "cached above input")
    outcomes = [
        EventOutcome("m0", "accepted", priced[0].cost_json, 90, warnings=(odd,)),
        EventOutcome("m1", "accepted", priced[1].cost_json, None),  # balances off
        EventOutcome("m2", "duplicate", priced[2].cost_json, 5),
        EventOutcome("m3", "accepted", priced[3].cost_json, 80),
        EventOutcome("m4", "duplicate", priced[4].cost_json, None),
        EventOutcome("m5", "duplicate", priced[5].cost_json, 5),
    ]
    answer = usage_minimal_answer(priced, outcomes)
    assert not _errors(schema, answer) and not _errors(minimal, answer), _errors(minimal, answer)
    read_back = UsageMinimalResponse.model_validate(answer).model_dump(
        mode="json", exclude_unset=True
    )
    assert read_back == answer
    one = priced[0].cost.total_micro
    assert answer == {
        "accepted": 3,
        "duplicates": 3,
        "duplicate_event_ids": ["m2", "m4", "m5"],
        "users": [
            {"user_id": "u1", "charged": credits_str(2 * one), "balance": "0.00008"},
            {"user_id": "u2", "charged": credits_str(one), "balance": None},
            {"user_id": "u3", "charged": "0", "balance": "0.000005"},
        ],
        "warnings": [{"event_id": "m0", **odd.to_json()}],
    }
    for wrong in (
        {**answer, "accepted": "3"},
        {**answer, "users": [{**answer["users"][0], "charged": 1.5}]},
        {**answer, "users": [{"user_id": "u1"}]},
        {**answer, "events": []},
        {k: v for k, v in answer.items() if k != "duplicate_event_ids"},
    ):
        assert _errors(minimal, wrong), wrong
    examples = _operation(document)["responses"]["200"]["content"]["application/json"]["examples"]
    assert set(examples) == {"full", "minimal"}
    for name, example in examples.items():
        assert not _errors(schema, example["value"]), name
    assert not _errors(minimal, examples["minimal"]["value"])


@pytest.mark.parametrize(
    ("prefer", "minimal"),
    [
        ("return=minimal", True),
        ('respond-async, Return="Minimal"; x=1', True),
        ("return=representation", False),
        ("return=representation, return=minimal", False),  # RFC 7240: the first one counts
        (None, False),
    ],
)
def test_prefer_return_minimal_over_http(
    make_client: AppFactory, prefer: str | None, minimal: bool
) -> None:
    client = make_client(CLAUDE_CONFIG)
    schema = _answer_schema(client.get("/openapi.json").json())
    assert client.post("/v1/usage", json=event("seen", user_id="u2")).status_code == 200
    body = {"events": [event("a1"), event("a2"), event("seen", user_id="u2")]}
    headers = {} if prefer is None else {"Prefer": prefer}
    response = client.post("/v1/usage", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert not _errors(schema, answer), _errors(schema, answer)
    balances = {u: client.get(f"/v1/balances/{u}").json()["credits"] for u in ("u1", "u2")}
    if not minimal:
        assert "preference-applied" not in response.headers
        assert [e["event_id"] for e in answer["events"]] == ["a1", "a2", "seen"]
        return
    assert response.headers["preference-applied"] == "return=minimal"
    full = client.post("/v1/usage", json=body).json()  # all duplicates now: the same costs
    charged = sum(Decimal(e["cost"]["total_credits"]) for e in full["events"][:2])
    assert answer == {
        "accepted": 2,
        "duplicates": 1,
        "duplicate_event_ids": ["seen"],
        "users": [
            {"user_id": "u1", "charged": str(charged), "balance": balances["u1"]},
            {"user_id": "u2", "charged": "0", "balance": balances["u2"]},
        ],
    }


def test_refusals_are_the_same_with_prefer_minimal(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    bad = {"events": [event("x1"), {**event("x2"), "tokens": {"prompt": -1}}]}
    plain = client.post("/v1/usage", json=bad)
    minimal = client.post("/v1/usage", json=bad, headers={"Prefer": "return=minimal"})
    assert plain.status_code == minimal.status_code == 422
    assert plain.json() == minimal.json()
    assert "preference-applied" not in minimal.headers
