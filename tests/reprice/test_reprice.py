"""Reprice runs (POST /v1/admin/reprice, `billing reprice`) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from billing.models import UsageEvent
from billing.reprice import service
from tests.conftest import AppFactory, RunBilling
from tests.helpers import CLAUDE_CONFIG, event
from tests.reprice.helpers import (
    CHEAPER_CONFIG,
    EVER,
    assert_money_invariants,
    ledger_rows,
    scalar,
)


def _recorded_at_old_prices(make_client: AppFactory) -> TestClient:
    """e1, e2 (u1, conversation c1) and e3 (u2) at 11250 each; then the cheaper app."""
    old = make_client(CLAUDE_CONFIG)
    old.post("/v1/usage", json=event("e1", conversation_id="c1"))
    old.post("/v1/usage", json=event("e2", conversation_id="c1"))
    old.post("/v1/usage", json=event("e3", user_id="u2"))
    old.post("/v1/usage", json=event("free", endpoint="Local", model="llama3.1:8b"))
    return make_client(CHEAPER_CONFIG)


def _reprice(client: TestClient, **body: Any) -> dict[str, Any]:
    answer = client.post("/v1/admin/reprice", json={**EVER, "reason": "prompt cut", **body})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _transactions(client: TestClient) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = client.get("/v1/transactions").json()["transactions"]
    return rows


def test_dry_run_answers_and_writes_nothing(make_client: AppFactory) -> None:
    client = _recorded_at_old_prices(make_client)
    before = _transactions(client)
    result = _reprice(client, dry_run=True)
    assert result["dry_run"] is True
    assert (result["events"], result["changed_events"]) == (4, 3)
    assert (result["old_credits"], result["new_credits"], result["delta_credits"]) == (
        "33750",
        "30750",
        "-3000",
    )
    by_model = {(m["endpoint"], m["model"]): m for m in result["by_model"]}
    claude = by_model[("Claude-Compatible", "claude-sonnet-4-5")]
    assert (claude["events"], claude["old"], claude["new"], claude["delta"]) == (
        3,
        "33750",
        "30750",
        "-3000",
    )
    assert by_model[("Local", "llama3.1:8b")]["delta"] == "0"
    assert _transactions(client) == before
    assert client.get("/v1/balances/u1").json()["credits"] == "77500"
    assert _reprice(client, dry_run=True)["events"] == 4  # still to do


def test_apply_corrects_balances_reports_and_conversations_once(make_client: AppFactory) -> None:
    client = _recorded_at_old_prices(make_client)
    result = _reprice(client, dry_run=False)
    assert (result["events"], result["changed_events"], result["delta_credits"]) == (4, 3, "-3000")

    rows = ledger_rows(client, "reprice")
    assert len(rows) == 3  # one per changed event and token type: only prompt changed
    assert {(r.token_type, r.old_rate, r.rate, r.amount_micro) for r in rows} == {
        ("prompt", "3", "2", 1000 * 1_000_000)
    }
    assert {r.run_id for r in rows} == {result["run_id"]}
    assert sorted(r.event_id or "" for r in rows) == ["e1", "e2", "e3"]
    assert client.get("/v1/balances/u1").json()["credits"] == "79500"  # 100000 - 2 x 10250
    assert client.get("/v1/balances/u2").json()["credits"] == "89750"
    # The original charge stays visible: the usage rows are untouched.
    assert {r["credits"] for r in _transactions(client) if r["kind"] == "usage"} >= {"-3000"}
    cost = client.get("/v1/conversations/c1/cost").json()
    assert cost["total"]["credits"] == "20500"
    assert cost["total"]["tokens_by_type"]["prompt"] == 2000  # corrections add no tokens
    totals = select(UsageEvent.total_micro).where(UsageEvent.event_id == "e1")
    assert scalar(client, totals) == 10250 * 1_000_000
    assert_money_invariants(client)

    again = _reprice(client, dry_run=False)
    assert (again["events"], again["changed_events"], again["delta_credits"]) == (0, 0, "0")
    assert len(ledger_rows(client, "reprice")) == 3
    assert_money_invariants(client)


def test_filters_narrow_the_run(make_client: AppFactory) -> None:
    client = _recorded_at_old_prices(make_client)
    only_u2 = _reprice(client, dry_run=False, user_id="u2")
    assert (only_u2["events"], only_u2["changed_events"]) == (1, 1)
    assert client.get("/v1/balances/u1").json()["credits"] == "77500"
    assert _reprice(client, dry_run=True, model="llama3.1:8b")["events"] == 1
    assert _reprice(client, dry_run=True, endpoint="Claude-Compatible")["events"] == 2
    window = {"from": "2000-01-01T00:00:00Z", "to": "2000-01-02T00:00:00Z"}
    assert _reprice(client, dry_run=True, **window)["events"] == 0
    assert_money_invariants(client)


def test_bad_bodies_are_refused(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    backwards = {"from": EVER["to"], "to": EVER["from"], "dry_run": True, "reason": "x"}
    refused = client.post("/v1/admin/reprice", json=backwards)
    assert refused.status_code == 422 and "to" in refused.json()["detail"]
    naive = {"from": "2026-01-01T00:00:00", "to": EVER["to"], "dry_run": True, "reason": "x"}
    assert client.post("/v1/admin/reprice", json=naive).status_code == 422
    assert client.post("/v1/admin/reprice", json={**EVER, "dry_run": True}).status_code == 422


def test_an_interrupted_run_is_finished_by_running_it_again(
    make_client: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _recorded_at_old_prices(make_client)
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    snapshot = runtime.snapshot
    selection = service.Selection(
        datetime.fromisoformat(EVER["from"]), datetime.fromisoformat(EVER["to"])
    )
    real_apply = service._apply
    calls = {"n": 0}

    def crash_on_second_chunk(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the process died here")
        real_apply(*args, **kwargs)

    monkeypatch.setattr(service, "_apply", crash_on_second_chunk)
    with pytest.raises(RuntimeError):
        service.reprice(
            runtime.sessions,
            snapshot.config,
            snapshot.prices,
            selection,
            runtime.clock(),
            dry_run=False,
            reason="cut",
            chunk=1,
        )
    assert len(ledger_rows(client, "reprice")) == 1  # the first chunk committed
    assert_money_invariants(client)
    monkeypatch.setattr(service, "_apply", real_apply)
    finished = service.reprice(
        runtime.sessions,
        snapshot.config,
        snapshot.prices,
        selection,
        runtime.clock(),
        dry_run=False,
        reason="cut",
        chunk=1,
    )
    assert (finished.events, finished.changed_events) == (3, 2)
    assert len(ledger_rows(client, "reprice")) == 3
    assert client.get("/v1/balances/u1").json()["credits"] == "79500"
    assert_money_invariants(client)


def test_the_command_reprices(
    make_client: AppFactory, db_url: str, run_billing: RunBilling, write_config: Any
) -> None:
    _recorded_at_old_prices(make_client)
    config: Path = write_config(CHEAPER_CONFIG)
    env = {"BILLING_CONFIG": str(config)}
    args = ("reprice", "--from", "2000-01-01", "--to", "2100-01-01", "--reason", "prompt cut")
    dry = run_billing(*args, database_url=db_url, env=env)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["changed_events"] == 3 and json.loads(dry.stdout)["dry_run"]
    done = run_billing(*args, "--apply", "--chunk", "2", database_url=db_url, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["delta_credits"] == "-3000"
    again = run_billing(*args, "--apply", database_url=db_url, env=env)
    assert json.loads(again.stdout)["changed_events"] == 0
    assert_money_invariants(make_client(CHEAPER_CONFIG))
