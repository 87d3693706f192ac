"""Configs and checks shared by the reprice, void and price book tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from billing import money
from billing.balances.service import reconcile
from billing.models import LedgerEntry, UsageEvent
from billing.reports import service as reports
from tests.helpers import CLAUDE_CONFIG

# The prompt rate cut from 3 to 2 credits per token; everything else as CLAUDE_CONFIG.
CHEAPER_CONFIG = CLAUDE_CONFIG.replace("prompt: 3\n", "prompt: 2\n")
assert CHEAPER_CONFIG != CLAUDE_CONFIG
# Other settings, the same prices.
SAME_PRICES_CONFIG = CLAUDE_CONFIG.replace("startBalance: 100000", "startBalance: 90000")
EVER = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}


def scalar(client: TestClient, stmt: Any) -> Any:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        return session.execute(stmt).scalar()


def ledger_rows(client: TestClient, kind: str) -> list[LedgerEntry]:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        stmt = select(LedgerEntry).where(LedgerEntry.kind == kind).order_by(LedgerEntry.id)
        return list(session.scalars(stmt))


def assert_money_invariants(client: TestClient) -> None:
    """balance == sum(ledger) for every user; the reports (rollups), the rollups rebuilt
    from the ledger, and the events' current totals all agree on the spend."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        assert reconcile(session) == []
        events_total = session.execute(select(func.sum(UsageEvent.total_micro))).scalar() or 0
        spend = session.execute(
            select(func.sum(LedgerEntry.amount_micro)).where(
                LedgerEntry.kind.in_(("usage", "reprice", "void"))
            )
        ).scalar()
    assert -(spend or 0) == events_total
    reported = client.get("/v1/costs", params={"from": EVER["from"]}).json()["total"]["credits"]
    assert money.to_decimal(reported) == money.credits_from_micro(events_total)
    reports.rebuild_rollups(runtime.engine)
    rebuilt = client.get("/v1/costs", params={"from": EVER["from"]}).json()["total"]["credits"]
    assert rebuilt == reported
