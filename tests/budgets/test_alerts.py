"""budget.threshold at each configured fraction and budget.exceeded above the
limit, each once per period: the computation itself, then over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from billing.budgets.alerts import EXCEEDED, THRESHOLD, alert_key, budget_events
from billing.budgets.types import BudgetState
from billing.config.model import DEFAULT_BUDGET_ALERTS
from billing.users.profile import Budget
from tests.budgets.support import EVENT_CREDITS, alerts_sent, post_usage, put_budget, with_billing
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event
from tests.reservations.support import set_clock

START = datetime(2026, 12, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)
MICRO = 1_000_000


def _state(spent_credits: int, limit_credits: int = 1000) -> BudgetState:
    budget = Budget(limit_credits * MICRO, "month", "UTC", "user")
    return BudgetState(budget, START, END, spent_credits * MICRO)


def _due(spent: int, already: set[str] | None = None) -> list[str]:
    events = budget_events("u1", _state(spent), DEFAULT_BUDGET_ALERTS, already or set())
    return [alert_key(e) for e in events]


def test_each_threshold_fires_once_its_fraction_is_reached() -> None:
    assert _due(499) == []
    assert _due(500) == ["threshold:0.5"]
    assert _due(800) == ["threshold:0.5", "threshold:0.8"]
    assert _due(1000) == ["threshold:0.5", "threshold:0.8", "threshold:1"]
    # Exceeded means above the limit, not at it.
    assert _due(1001) == ["threshold:0.5", "threshold:0.8", "threshold:1", "exceeded"]


def test_a_zero_limit_alerts_on_the_first_spend() -> None:
    state = _state(0, limit_credits=0)
    assert budget_events("u1", state, DEFAULT_BUDGET_ALERTS, set()) == []
    events = budget_events("u1", _state(1, limit_credits=0), DEFAULT_BUDGET_ALERTS, set())
    assert [alert_key(e) for e in events] == [
        "threshold:0.5",
        "threshold:0.8",
        "threshold:1",
        "exceeded",
    ]


def test_what_was_sent_this_period_is_not_sent_again() -> None:
    sent = {"threshold:0.5", "threshold:0.8"}
    assert _due(900, sent) == []
    assert _due(1200, sent) == ["threshold:1", "exceeded"]
    assert _due(5000, sent | {"threshold:1", "exceeded"}) == []


def test_the_event_data() -> None:
    events = budget_events("u1", _state(850), (Decimal("0.8"),), set())
    assert events == [
        (
            THRESHOLD,
            {
                "user_id": "u1",
                "limit_credits": "1000",
                "spent_credits": "850",
                "period": "month",
                "tz": "UTC",
                "period_start": "2026-12-01T00:00:00Z",
                "resets_at": "2027-01-01T00:00:00Z",
                "threshold": "0.8",
            },
        )
    ]
    [(kind, data)] = budget_events("u1", _state(1500), (), set())
    assert kind == EXCEEDED and "threshold" not in data


def test_usage_records_each_alert_once_per_period(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    noon = datetime(2026, 12, 5, 12, tzinfo=UTC)
    set_clock(client, noon)
    put_budget(client, "u1", limit_credits=4 * EVENT_CREDITS, period="day")
    period = "2026-12-05T00:00:00+00:00"
    when = noon.isoformat()
    post_usage(client, event("e1", occurred_at=when))  # 25%
    assert alerts_sent(client, "u1") == []
    post_usage(client, event("e2", occurred_at=when))  # 50%
    assert alerts_sent(client, "u1") == [(period, "threshold:0.5")]
    post_usage(client, event("e3", occurred_at=when), event("e4", occurred_at=when))  # 100%
    post_usage(client, event("e5", occurred_at=when), event("e6", occurred_at=when))  # 150%
    expected = ["threshold:0.5", "threshold:0.8", "threshold:1", "exceeded"]
    assert [alert for _, alert in alerts_sent(client, "u1")] == expected
    # A duplicate event spends nothing and fires nothing; the next day starts over.
    post_usage(client, event("e6", occurred_at=when))
    set_clock(client, datetime(2026, 12, 6, 12, tzinfo=UTC))
    post_usage(client, *(event(f"d{i}", occurred_at="2026-12-06T12:00:00Z") for i in range(3)))
    assert alerts_sent(client, "u1")[4:] == [("2026-12-06T00:00:00+00:00", "threshold:0.5")]


def test_configured_fractions(make_client: AppFactory) -> None:
    client = make_client(with_billing("  budgetAlerts: [0.25]\n"))
    set_clock(client, datetime(2026, 12, 5, 12, tzinfo=UTC))
    put_budget(client, "u1", limit_credits=2 * EVENT_CREDITS, period="month")
    post_usage(client, event("e1", occurred_at="2026-12-05T12:00:00Z"))
    post_usage(client, event("e2", occurred_at="2026-12-05T12:00:00Z"))
    post_usage(client, event("e3", occurred_at="2026-12-05T12:00:00Z"))
    assert [a for _, a in alerts_sent(client, "u1")] == ["threshold:0.25", "exceeded"]
