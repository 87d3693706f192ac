"""`billing balance|transactions|report|reconcile`: output formats and exit codes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, update

from billing.models import Balance
from tests.cli.support import run_cli
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event


def test_balance_add_set_get_list(db_url: str) -> None:
    added = run_cli(
        db_url, "balance", "add", "u1", "5000.5", "--reason", "promo", "--format", "json"
    )
    assert added.exit_code == 0, added.stderr
    assert json.loads(added.stdout)[0]["credits"] == "5000.5"
    deducted = run_cli(db_url, "balance", "add", "--format", "json", "u1", "--", "-0.5")
    assert json.loads(deducted.stdout)[0]["credits"] == "5000"
    repeated = [
        run_cli(db_url, "balance", "add", "u2", "10", "--idempotency-key", "k1") for _ in range(2)
    ]
    assert "already applied" in repeated[1].stderr
    set_ = run_cli(db_url, "balance", "set", "u2", "2.25", "--format", "json")
    assert json.loads(set_.stdout)[0]["credits"] == "2.25"

    got = run_cli(db_url, "balance", "get", "u1")
    assert got.exit_code == 0 and "u1" in got.stdout and "5000" in got.stdout
    listed = run_cli(db_url, "balance", "list", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert [(r["user_id"], r["credits"]) for r in rows] == [("u1", "5000"), ("u2", "2.25")]
    page = run_cli(db_url, "balance", "list", "--after", "u1", "--limit", "1", "--format", "json")
    assert [r["user_id"] for r in json.loads(page.stdout)] == ["u2"]

    history = json.loads(run_cli(db_url, "transactions", "--user", "u2", "--format", "json").stdout)
    assert [(r["kind"], r["credits"]) for r in history] == [("set", "-7.75"), ("grant", "10")]
    assert run_cli(db_url, "reconcile").exit_code == 0


def test_balance_exit_codes(db_url: str) -> None:
    missing = run_cli(db_url, "balance", "get", "nobody")
    assert missing.exit_code == 1 and "user_not_found" in missing.stderr
    assert run_cli(db_url, "balance", "add", "u1", "lots").exit_code == 2
    assert run_cli(db_url, "balance", "add", "u1", "0").exit_code == 2
    assert run_cli(db_url, "balance", "set", "u1", "1e3").exit_code == 0  # exact decimal text
    assert run_cli(db_url, "balance", "set", "u1", "NaN").exit_code == 2
    assert run_cli(db_url, "balance", "frobnicate").exit_code == 2
    assert run_cli(db_url, "transactions", "--since", "yesterday").exit_code == 2
    assert run_cli(db_url, "transactions", "--format", "xml").exit_code == 2


def test_reconcile_finds_a_tampered_balance(db_url: str) -> None:
    run_cli(db_url, "balance", "add", "u1", "100")
    assert run_cli(db_url, "reconcile").exit_code == 0
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(update(Balance).where(Balance.user_id == "u1").values(amount_micro=1))
    engine.dispose()
    result = run_cli(db_url, "reconcile")
    assert result.exit_code == 1 and "u1" in result.stderr


def test_transactions_filters_limits_and_formats(
    make_client: AppFactory, db_url: str, write_config: Callable[[str], Path]
) -> None:
    config = str(write_config(CLAUDE_CONFIG))
    client = make_client(CLAUDE_CONFIG)
    for i in range(4):
        body = event(f"e{i}", conversation_id=f"c{i % 2}", occurred_at=f"2026-10-2{i}T10:00:00Z")
        assert client.post("/v1/usage", json=body).status_code == 200
    args = ("transactions", "--user", "u1", "--format", "json")
    everything = json.loads(run_cli(db_url, *args, "--limit", "1000", config=config).stdout)
    api = client.get("/v1/transactions", params={"user_id": "u1", "limit": 1000}).json()
    assert [r["id"] for r in everything] == [r["id"] for r in api["transactions"]]
    assert [r["credits"] for r in everything] == [r["credits"] for r in api["transactions"]]

    limited = json.loads(run_cli(db_url, *args, "--limit", "3").stdout)
    assert [r["id"] for r in limited] == [r["id"] for r in everything[:3]]
    in_c1 = json.loads(run_cli(db_url, *args, "--conversation", "c1").stdout)
    assert in_c1 and {r["conversation_id"] for r in in_c1} == {"c1"}
    window = json.loads(
        run_cli(db_url, *args, "--since", "2026-10-21", "--until", "2026-10-22T10:00:00Z").stdout
    )
    assert {r["created_at"][:10] for r in window} == {"2026-10-21"}
    table = run_cli(db_url, "transactions", "--limit", "2")
    assert table.exit_code == 0 and "usage" in table.stdout
    rows = list(csv.DictReader(io.StringIO(run_cli(db_url, *args[:3], "--format", "csv").stdout)))
    assert rows and set(rows[0]) >= {"id", "credits", "usd", "model", "conversation_id"}


def test_report_matches_the_costs_api(
    make_client: AppFactory, db_url: str, write_config: Callable[[str], Path]
) -> None:
    config = str(write_config(CLAUDE_CONFIG))
    client = make_client(CLAUDE_CONFIG)
    for i in range(3):
        assert client.post("/v1/usage", json=event(f"e{i}", user_id=f"u{i % 2}")).status_code == 200
    api = client.get("/v1/costs", params={"group_by": "user_id,model"}).json()
    result = run_cli(
        db_url, "report", "--group-by", "user_id,model", "--format", "csv", config=config
    )
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["user_id"], r["credits"]) for r in rows[:-1]] == [
        (row["key"]["user_id"], row["credits"]) for row in api["rows"]
    ]
    assert rows[-1]["user_id"] == "total" and rows[-1]["credits"] == api["total"]["credits"]
    as_json = json.loads(run_cli(db_url, "report", "--format", "json", config=config).stdout)
    assert as_json["total"]["credits"] == api["total"]["credits"]
    assert "claude-sonnet-4-5" in run_cli(db_url, "report", config=config).stdout
    bad = run_cli(db_url, "report", "--group-by", "planet", config=config)
    assert bad.exit_code == 2 and "group_by" in bad.stderr
