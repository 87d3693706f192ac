"""POST /v1/usage/{event_id}/void over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from billing.models import UsageEvent
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event
from tests.reprice.helpers import (
    CHEAPER_CONFIG,
    EVER,
    assert_money_invariants,
    ledger_rows,
    scalar,
)


def test_void_reverses_the_charge_once(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    client.post("/v1/usage", json=event("e1", conversation_id="c1"))
    client.post("/v1/usage", json=event("e2", conversation_id="c1"))
    assert client.get("/v1/balances/u1").json()["credits"] == "77500"

    answer = client.post("/v1/usage/e1/void", json={"reason": "provider outage"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["event_id"] == "e1" and body["user_id"] == "u1" and body["voided"] is True
    assert body["reversed_credits"] == "11250" and body["already_voided"] is False
    assert client.get("/v1/balances/u1").json()["credits"] == "88750"

    voids = client.get("/v1/transactions", params={"user_id": "u1"}).json()["transactions"]
    reversal = sorted(
        (r["token_type"], r["tokens"], r["credits"]) for r in voids if r["kind"] == "void"
    )
    assert reversal == [
        ("cache_read", -5000, "1500"),
        ("cache_write", -1000, "3750"),
        ("completion", -200, "3000"),
        ("prompt", -1000, "3000"),
    ]
    assert {r["reason"] for r in voids if r["kind"] == "void"} == {"provider outage"}

    cost = client.get("/v1/conversations/c1/cost").json()
    shown = {
        e["event_id"]: (e["voided"], e["credits"]) for m in cost["messages"] for e in m["events"]
    }
    assert shown == {"e1": (True, "0"), "e2": (False, "11250")}
    assert cost["total"]["credits"] == "11250"
    assert scalar(client, select(UsageEvent.total_micro).where(UsageEvent.event_id == "e1")) == 0
    assert_money_invariants(client)

    again = client.post("/v1/usage/e1/void", json={"reason": "clicked twice"})
    assert again.status_code == 200
    assert again.json()["already_voided"] is True
    assert again.json()["reason"] == "provider outage"
    assert again.json()["voided_at"] == body["voided_at"]
    assert len(ledger_rows(client, "void")) == 4
    assert client.get("/v1/balances/u1").json()["credits"] == "88750"
    assert_money_invariants(client)


def test_a_voided_event_is_not_repriced_and_a_repriced_one_voids_its_new_cost(
    make_client: AppFactory,
) -> None:
    make_client(CLAUDE_CONFIG).post("/v1/usage", json=event("e1"))
    client = make_client(CLAUDE_CONFIG)
    client.post("/v1/usage", json=event("e2"))
    client.post("/v1/usage/e2/void", json={"reason": "test traffic"})
    cheaper = make_client(CHEAPER_CONFIG)
    run = cheaper.post("/v1/admin/reprice", json={**EVER, "dry_run": False, "reason": "cut"})
    assert run.json()["events"] == 1  # e1 only: e2 is voided

    voided = cheaper.post("/v1/usage/e1/void", json={"reason": "refund"}).json()
    assert voided["reversed_credits"] == "10250"  # the repriced cost, not the original 11250
    assert cheaper.get("/v1/balances/u1").json()["credits"] == "100000"
    assert_money_invariants(cheaper)


def test_void_errors_use_the_error_shape(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    missing = client.post("/v1/usage/nope/void", json={"reason": "x"})
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found" and "nope" in missing.json()["detail"]
    client.post("/v1/usage", json=event("e1"))
    no_reason = client.post("/v1/usage/e1/void", json={})
    assert no_reason.status_code == 422
    assert "reason" in no_reason.json()["detail"]
    assert ledger_rows(client, "void") == []
