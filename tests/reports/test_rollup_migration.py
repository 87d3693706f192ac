"""Rollups are rebuilt from the ledger: by migration 0002 and by `billing rebuild-rollups`."""

from __future__ import annotations

from sqlalchemy import create_engine, delete

from billing.migrator import downgrade, upgrade
from billing.models import UsageRollup
from tests.cli.support import run_cli
from tests.conftest import AppFactory
from tests.reports.support import REPORT_CONFIG, make_events, post_events

QUERIES = [
    {"group_by": "day,model,token_type", "tz": "Asia/Kolkata"},
    {"group_by": "hour,endpoint,context", "tz": "America/New_York"},
    {},
]


def test_upgrade_fills_rollups_from_existing_ledger(make_client: AppFactory, db_url: str) -> None:
    client = make_client(REPORT_CONFIG)
    post_events(client, make_events(60, seed=5))
    before = [client.get("/v1/costs", params=q).json() for q in QUERIES]
    assert before[-1]["total"]["credits"] != "0"
    downgrade(db_url, "0001")  # drops the rollups; the ledger stays
    upgrade(db_url)
    assert [client.get("/v1/costs", params=q).json() for q in QUERIES] == before


def test_rebuild_rollups_command(make_client: AppFactory, db_url: str) -> None:
    client = make_client(REPORT_CONFIG)
    post_events(client, make_events(60, seed=6))
    before = [client.get("/v1/costs", params=q).json() for q in QUERIES]
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(delete(UsageRollup))  # rollups lost or stale
    engine.dispose()
    assert client.get("/v1/costs").json()["total"]["credits"] == "0"
    partial = run_cli(db_url, "rebuild-rollups", "--since", "2026-11-01T00:00:00+00:00")
    assert partial.exit_code == 0, partial.stderr
    assert client.get("/v1/costs").json() != before[-1]  # March is still missing
    outcome = run_cli(db_url, "rebuild-rollups")
    assert outcome.exit_code == 0, outcome.stderr
    assert "rollups rebuilt" in outcome.stdout
    assert [client.get("/v1/costs", params=q).json() for q in QUERIES] == before
