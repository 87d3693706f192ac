"""Budget events after a spend: ``budget.threshold`` at each configured fraction
of the limit and ``budget.exceeded`` above it, each once per period.

``budget_events`` decides (pure); ``emit_after_spend`` finds the state, records
what fired (budget_alert, in the spending transaction) and hands the events to
``notify``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billing import money
from billing.budgets import repository as repo
from billing.budgets.rules import state
from billing.budgets.types import BudgetState
from billing.config.model import AppConfig
from billing.users import repository as users_repo
from billing.users.profile import Profile, effective_budget
from billing.webhooks import outbox

THRESHOLD, EXCEEDED = "budget.threshold", "budget.exceeded"
Event = tuple[str, dict[str, Any]]


def budget_events(
    user_id: str, current: BudgetState, fractions: Iterable[Decimal], already: set[str]
) -> list[Event]:
    """The events due now that ``current`` is the spend: a threshold once the spend
    reaches its fraction of the limit, ``exceeded`` once it is above the limit;
    none whose key is in ``already`` (sent earlier this period)."""
    limit, spent = current.budget.limit_micro, current.spent_micro
    due: list[Event] = []
    for fraction in sorted(fractions):
        threshold = money.format_decimal(fraction)
        # spent > 0: a zero limit (no spending allowed) alerts on spend, not on nothing.
        if f"threshold:{threshold}" not in already and 0 < spent >= fraction * limit:
            due.append((THRESHOLD, _data(user_id, current, threshold=threshold)))
    if "exceeded" not in already and spent > limit:
        due.append((EXCEEDED, _data(user_id, current)))
    return due


def _data(user_id: str, current: BudgetState, **extra: Any) -> dict[str, Any]:
    budget = current.budget
    return {
        "user_id": user_id,
        "limit_credits": money.credits_str(budget.limit_micro),
        "spent_credits": money.credits_str(current.spent_micro),
        "period": budget.period,
        "tz": budget.tz,
        "period_start": current.period_start.isoformat().replace("+00:00", "Z"),
        "resets_at": current.resets_at.isoformat().replace("+00:00", "Z"),
        **extra,
    }


def alert_key(event: Event) -> str:
    """How budget_alert names an event: ``threshold:0.8`` or ``exceeded``."""
    kind, data = event
    return "exceeded" if kind == EXCEEDED else f"threshold:{data['threshold']}"


def emit_after_spend(
    session: Session,
    config: AppConfig,
    spenders: Iterable[str],
    now: datetime,
    profiles: Mapping[str, Profile | None] | None = None,
) -> list[Event]:
    """After usage of ``spenders`` is recorded (their balances locked): the budget
    events now due, recorded as sent and notified. ``profiles``: the spenders'
    profiles as read under their locks (else one query reads them); only users
    with a budget cost more (their period's spend, the alerts sent)."""
    if profiles is None:
        found: Mapping[str, Profile | None] = users_repo.profiles(session, spenders)
    else:
        found = {user_id: profiles.get(user_id) for user_id in spenders}
    events: list[Event] = []
    for user_id, profile in sorted(found.items()):
        budget = effective_budget(config, profile)
        if budget is None:
            continue
        current = state(session, user_id, budget, now)
        already = repo.sent_alerts(session, user_id, current.period_start)
        due = budget_events(user_id, current, config.billing.budget_alerts, already)
        rows = [
            {
                "user_id": user_id,
                "period_start": current.period_start,
                "alert": alert_key(event),
                "spent_micro": current.spent_micro,
                "created_at": now,
            }
            for event in due
        ]
        claimed = repo.claim_alerts(session, rows)
        events += [event for event in due if (user_id, alert_key(event)) in claimed]
    notify(session, events)
    return events


def notify(session: Session, events: list[Event]) -> None:
    """Hand budget events to webhook delivery: outbox rows in the spending
    transaction, so a crash neither loses nor invents one."""
    for event_type, data in events:
        outbox.emit(session, event_type, data)
