"""What each console page shows, gathered from the services the API uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from billing import money
from billing.accounts import service as accounts
from billing.balances import repository as balances_repo
from billing.balances import service as balances
from billing.catalog import service as catalog
from billing.catalog.fetcher import ModelListFetcher
from billing.config.model import AppConfig
from billing.console import charts, queries
from billing.console.formatting import credits, currency_amount
from billing.errors import UnknownEndpoint, UserNotFound
from billing.pricing.engine import PriceBook
from billing.reports import repository as reports_repo
from billing.reports import service as reports
from billing.reports.money_view import DisplayCurrency, display_currency
from billing.reports.service import CostsQuery

WINDOW_DAYS = 30
LEDGER_PAGE = 50
TOP_USERS = 10


def currency_of(config: AppConfig) -> DisplayCurrency:
    return display_currency(config.currency, None)


def _micro(credits_text: str) -> int:
    return money.micro_from_credits(money.to_decimal(credits_text))


def _day_start(now: datetime, days_back: int) -> datetime:
    midnight = datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)
    return midnight - timedelta(days=days_back)


@dataclass(frozen=True, slots=True)
class Amount:
    micro: int
    credits: str
    display: str


def amount(micro: int, currency: DisplayCurrency) -> Amount:
    return Amount(micro, credits(micro), currency_amount(micro, currency))


def _daily(
    session: Session, config: AppConfig, now: datetime, user_id: str | None
) -> tuple[list[tuple[str, Amount]], dict[str, Amount]]:
    """Spend per UTC day over the window (every day listed, oldest first) and the
    today / 7 / 30 day totals."""
    currency = currency_of(config)
    start = _day_start(now, WINDOW_DAYS - 1)
    report = reports.costs(
        session,
        config.currency,
        CostsQuery(start=start, end=now, group_by=["day"], user_id=user_id, limit=WINDOW_DAYS + 1),
    )
    by_day = {row.key["day"]: _micro(row.credits) for row in report.rows}
    days = [(start + timedelta(days=i)).date().isoformat() for i in range(WINDOW_DAYS)]
    series = [(day, amount(by_day.get(day, 0), currency)) for day in days]
    totals = {
        "today": sum(a.micro for _, a in series[-1:]),
        "7 days": sum(a.micro for _, a in series[-7:]),
        "30 days": sum(a.micro for _, a in series),
    }
    return series, {name: amount(micro, currency) for name, micro in totals.items()}


def chart(series: list[tuple[str, Amount]]) -> charts.Chart:
    return charts.daily_bars([(day, a.micro, f"{a.credits} credits") for day, a in series])


def _token_config_path(config: AppConfig, endpoint: str) -> str:
    found = config.endpoint(endpoint)
    if found is not None and found.kind == "custom":
        return f"endpoints.custom[name: {endpoint}].tokenConfig"
    return f"endpoints.{endpoint}.tokenConfig"


def overview(
    session: Session, config: AppConfig, prices: PriceBook, ranking: queries.Ranking, now: datetime
) -> dict[str, Any]:
    currency = currency_of(config)
    series, totals = _daily(session, config, now, None)
    by_model = reports.costs(
        session,
        config.currency,
        CostsQuery(start=_day_start(now, WINDOW_DAYS - 1), end=now, group_by=["endpoint", "model"]),
    )
    models = []
    fallback = []
    for row in sorted(by_model.rows, key=lambda r: -_micro(r.credits)):
        endpoint, model = row.key["endpoint"] or "", row.key["model"] or ""
        priced_by: str
        try:
            priced_by = prices.is_priced(endpoint, model)
        except UnknownEndpoint:
            priced_by = "unknown endpoint"
        entry = {
            "endpoint": endpoint,
            "model": model,
            "tokens": row.tokens,
            "spend": amount(_micro(row.credits), currency),
            "priced_by": priced_by,
        }
        models.append(entry)
        if priced_by == "fallback":
            fallback.append({**entry, "path": _token_config_path(config, endpoint)})
    top = [
        {"user_id": user, "spend": amount(-negative, currency)}
        for negative, user in ranking.order[:TOP_USERS]
        if negative < 0
    ]
    return {
        "totals": totals,
        "series": series,
        "chart": chart(series),
        "models": models,
        "fallback": fallback,
        "top_users": top,
        "ranking_at": ranking.computed_at,
    }


def user(
    session: Session, config: AppConfig, user_id: str, now: datetime, ledger_cursor: int | None
) -> dict[str, Any]:
    currency = currency_of(config)
    row = balances.get_balance(session, user_id, now)
    series, totals = _daily(session, config, now, user_id)
    entries = balances_repo.list_ledger(
        session,
        user_id=user_id,
        conversation_id=None,
        since=None,
        until=None,
        after_id=ledger_cursor,
        limit=LEDGER_PAGE + 1,
    )
    more = len(entries) > LEDGER_PAGE
    entries = entries[:LEDGER_PAGE]
    return {
        "user_id": user_id,
        "balance": amount(row.amount_micro, currency),
        "reserved": amount(row.reserved_micro, currency),
        "available": amount(row.available_micro, currency),
        "refill": {
            "enabled": row.auto_refill_enabled,
            "every": f"{row.refill_interval_value} {row.refill_interval_unit}",
            "amount": amount(row.refill_amount_micro, currency),
            "last": row.last_refill_at,
            "next": row.next_refill_at,
        },
        "budget_role": _budget_role(session, config, user_id, now, currency),
        "totals": totals,
        "series": series,
        "chart": chart(series),
        "ledger": [
            {"entry": entry, "amount": amount(entry.amount_micro, currency)} for entry in entries
        ],
        "ledger_next": str(entries[-1].id) if more and entries else None,
        "conversations": [
            {"summary": conv, "spend": amount(conv.cost_micro, currency)}
            for conv in queries.user_conversations(session, user_id)
        ],
    }


def conversation(session: Session, config: AppConfig, conversation_id: str) -> dict[str, Any]:
    """Messages in order; each event with its token lines, rates and costs."""
    currency = currency_of(config)
    summary = reports.conversation_cost(session, config.currency, conversation_id)
    lines: dict[str | None, list[dict[str, Any]]] = {}
    for line in reports_repo.conversation_lines(session, conversation_id, None):
        lines.setdefault(line.event_id, []).append(
            {
                "token_type": line.token_type,
                "tokens": line.tokens,
                "rate": line.rate,
                "cost": amount(line.cost_micro, currency),
            }
        )
    messages = []
    for message in summary.messages:
        events = []
        for event in message.events:
            events.append(
                {
                    "event": event,
                    "cost": amount(_micro(event.credits), currency),
                    "lines": lines.get(event.event_id, []) if event.event_id else [],
                }
            )
        messages.append(
            {
                "message": message,
                "cost": amount(_micro(message.credits), currency),
                "events": events,
            }
        )
    return {
        "conversation_id": conversation_id,
        "user_ids": summary.user_ids,
        "messages": messages,
        "total": amount(_micro(summary.total.credits), currency),
        "tokens": summary.total.tokens,
    }


def pricing(prices: PriceBook, fetcher: ModelListFetcher) -> dict[str, Any]:
    listing = catalog.endpoints(prices, fetcher, None)
    coverage = catalog.coverage(prices, fetcher, None)
    return {
        "endpoints": listing.endpoints,
        "coverage": coverage,
        "paths": {e.name: _token_config_path(prices.config, e.name) for e in listing.endpoints},
    }


def _budget_role(
    session: Session, config: AppConfig, user_id: str, now: datetime, currency: DisplayCurrency
) -> dict[str, Any] | None:
    """The user's role and budget (own or the role's), None when neither is set."""
    try:
        view = accounts.get_user(session, config, user_id, now)
    except UserNotFound:
        return None
    budget = view.budget
    if view.role is None and budget is None:
        return None
    return {
        "role": view.role,
        "budget": None
        if budget is None
        else {
            "limit": amount(budget.budget.limit_micro, currency),
            "period": budget.budget.period,
            "tz": budget.budget.tz,
            "source": budget.budget.source,
            "spent": amount(budget.spent_micro, currency),
            "remaining": amount(budget.remaining_micro, currency),
            "resets_at": budget.resets_at,
        },
    }
