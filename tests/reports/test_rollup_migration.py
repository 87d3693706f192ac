"""Migration 0002 rolls up the usage already in the ledger."""

from __future__ import annotations

from billing.schema import downgrade, upgrade
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
