"""Where ledger changes fire balance.low and pricing.unpriced_model.

Each hook costs nothing unless it may fire: balance.low only with
BILLING_WEBHOOK_BALANCE_LOW_CREDITS set (and, for falling balances, balances
enabled), pricing.unpriced_model only when a batch holds a fallback-priced
event. Then one set-based statement per hook decides, with the state tables
making each event fire once: a user's balance.low row stays until the balance
rises to the threshold or above again (re-armed), an endpoint/model's
unpriced row stays for good.

The options ride on the runtime's sessions (``install``); sessions made
elsewhere (a CLI import, a test's) fire nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Table, delete
from sqlalchemy.orm import Session, sessionmaker

from billing import dialect, money
from billing.config.model import AppConfig
from billing.models import WebhookBalanceLow, WebhookUnpricedModel
from billing.pricing.types import Cost
from billing.session_events import after_commit
from billing.settings import Settings
from billing.webhooks import events, outbox

_OPTIONS = "billing.webhooks.hooks"


@dataclass(frozen=True, slots=True)
class HookOptions:
    balance_low_micro: int | None  # None: balance.low never fires


def install(sessions: sessionmaker[Session], settings: Settings) -> None:
    """The runtime's sessions carry the webhook options from now on."""
    threshold = settings.webhook_balance_low_credits
    sessions.configure(
        info={
            _OPTIONS: HookOptions(
                None if threshold is None else money.micro_from_credits(threshold)
            ),
            outbox.GIVE_UP_AFTER_KEY: timedelta(seconds=settings.webhook_give_up_after_seconds),
        }
    )


def _balance_low_micro(session: Session) -> int | None:
    options: HookOptions | None = session.info.get(_OPTIONS)
    return None if options is None else options.balance_low_micro


def after_charge(
    session: Session,
    config: AppConfig,
    costs: Iterable[Cost],
    balances: Mapping[str, int],
    now: datetime,
) -> None:
    """Newly accepted usage (``costs``) left these users at ``balances`` (micro)."""
    first_unpriced(session, costs, now)
    balances_fell(session, config, balances, now)


def first_unpriced(session: Session, costs: Iterable[Cost], now: datetime) -> None:
    """pricing.unpriced_model for each endpoint/model first seen priced at the fallback rate."""
    seen: Collection[tuple[str, str]] = _seen_unpriced.get(session.get_bind(), ())
    fallback = {
        pair: c
        for c in costs
        if c.priced_by == "fallback" and (pair := (c.endpoint, c.model)) not in seen
    }
    if not fallback:
        return
    table = WebhookUnpricedModel.__table__
    assert isinstance(table, Table)
    rows = [{"endpoint": e, "model": m, "first_seen_at": now} for e, m in sorted(fallback)]
    new = dialect.of(session).insert_missing(session, table, ["endpoint", "model"], rows)
    _remember_unpriced(session, set(fallback))
    data = []
    for endpoint, model in sorted(new):
        cost = fallback[(endpoint, model)]
        data.append(
            {
                "endpoint": endpoint,
                "model": model,
                "priced_by": "fallback",
                "rates": {line.token_type: money.rate_str(line.rate) for line in cost.lines},
                "hint": f"add a tokenConfig entry for {model!r} to the {endpoint!r} endpoint",
            }
        )
    outbox.emit_many(session, events.UNPRICED_MODEL, data, now=now)


# engine -> endpoint/model pairs whose unpriced row is committed: rows stay for
# good, so later batches skip the insert (fallback-priced traffic costs one
# statement per process and pair, not one per transaction).
_seen_unpriced: WeakKeyDictionary[Any, set[tuple[str, str]]] = WeakKeyDictionary()


def _remember_unpriced(session: Session, pairs: set[tuple[str, str]]) -> None:
    bind = session.get_bind()
    after_commit(session, lambda: _seen_unpriced.setdefault(bind, set()).update(pairs))


def balances_fell(
    session: Session, config: AppConfig, balances: Mapping[str, int], now: datetime
) -> None:
    """balance.low for users now below the threshold whose event is armed."""
    threshold = _balance_low_micro(session)
    if threshold is None or not config.balance.enabled:
        return
    low = {user_id: amount for user_id, amount in balances.items() if amount < threshold}
    if not low:
        return
    table = WebhookBalanceLow.__table__
    assert isinstance(table, Table)
    rows = [{"user_id": user_id, "fired_at": now} for user_id in sorted(low)]
    fired = [
        user_id
        for (user_id,) in dialect.of(session).insert_missing(session, table, ["user_id"], rows)
    ]
    data = [
        {
            "user_id": user_id,
            "balance_credits": money.credits_str(low[user_id]),
            "threshold_credits": money.credits_str(threshold),
        }
        for user_id in sorted(fired)
    ]
    outbox.emit_many(session, events.BALANCE_LOW, data, now=now)


def balances_rose(session: Session, balances: Mapping[str, int]) -> None:
    """Re-arm balance.low for users now at or above the threshold."""
    threshold = _balance_low_micro(session)
    if threshold is None:
        return
    risen = sorted(user_id for user_id, amount in balances.items() if amount >= threshold)
    if risen:
        session.execute(delete(WebhookBalanceLow).where(WebhookBalanceLow.user_id.in_(risen)))
