"""The ``billing:`` section of librechat.yaml: role policies and budget alerts.

LibreChat ignores unknown top-level keys, so billing's own settings live in
the same file::

    billing:
      budgetAlerts: [0.5, 0.8, 1]        # fractions of a budget (default)
      roles:
        USER:                            # LibreChat's role name
          startBalance: 20000            # these five override `balance`
          autoRefillEnabled: true
          refillIntervalValue: 1
          refillIntervalUnit: days
          refillAmount: 5000
          budget: {limitCredits: 100000, period: month, tz: Europe/Berlin}
"""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from billing.config.issues import Path
from billing.config.model import (
    BUDGET_PERIODS,
    REFILL_UNITS,
    BillingSection,
    BudgetPolicy,
    RolePolicy,
)
from billing.config.values import Checker, Reader

MAX_ROLE_LENGTH = 100
MAX_ALERTS = 20


def read_billing(
    c: Checker, value: Any, path: Path, credits: Reader, maximum: int
) -> BillingSection:
    """``credits`` reads an amount of credits, ``maximum`` bounds refillIntervalValue
    (the same rules as ``balance``)."""
    block = None if value is None else c.mapping(value, path)
    if block is None:
        return BillingSection()
    read = c.fields(
        block,
        path,
        {
            "roles": lambda c, v, p: _roles(c, v, p, credits, maximum),
            "budgetAlerts": _alerts,
        },
    )
    return BillingSection(
        roles=MappingProxyType(read.get("roles", {})),
        budget_alerts=read.get("budgetAlerts", BillingSection().budget_alerts),
    )


def _alerts(c: Checker, value: Any, path: Path) -> tuple[Decimal, ...] | None:
    if not isinstance(value, list):
        c.error(path, "must be a list of fractions of the budget, e.g. [0.5, 0.8, 1]")
        return None
    if len(value) > MAX_ALERTS:
        c.error(path, f"must list at most {MAX_ALERTS} fractions")
        return None
    fractions = [
        c.number(item, (*path, i), maximum=Decimal(1), positive=True)
        for i, item in enumerate(value)
    ]
    if any(fraction is None for fraction in fractions):
        return None
    return tuple(sorted({fraction for fraction in fractions if fraction is not None}))


def _roles(
    c: Checker, value: Any, path: Path, credits: Reader, maximum: int
) -> dict[str, RolePolicy] | None:
    block = c.mapping(value, path)
    if block is None:
        return None
    roles: dict[str, RolePolicy] = {}
    for name, raw in block.items():
        where = (*path, str(name))
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_ROLE_LENGTH:
            c.error(where, f"a role name must be text of 1 to {MAX_ROLE_LENGTH} characters")
            continue
        policy = _role(c, raw, where, credits, maximum)
        if policy is not None:
            roles[name] = policy
    return roles


def _role(c: Checker, value: Any, path: Path, credits: Reader, maximum: int) -> RolePolicy | None:
    block = c.mapping(value if value is not None else {}, path)
    if block is None:
        return None
    fields: dict[str, tuple[str, Reader]] = {
        "startBalance": ("start_balance", credits),
        "autoRefillEnabled": ("auto_refill_enabled", lambda c, v, p: c.boolean(v, p)),
        "refillIntervalValue": (
            "refill_interval_value",
            lambda c, v, p: c.integer(v, p, maximum=maximum),
        ),
        "refillIntervalUnit": (
            "refill_interval_unit",
            lambda c, v, p: c.choice(v, p, REFILL_UNITS),
        ),
        "refillAmount": ("refill_amount", credits),
        "budget": ("budget", _budget),
    }
    read = c.fields(block, path, {key: reader for key, (_, reader) in fields.items()})
    return RolePolicy(**{fields[key][0]: v for key, v in read.items()})


def _budget(c: Checker, value: Any, path: Path) -> BudgetPolicy | None:
    block = c.mapping(value, path)
    if block is None:
        return None
    read = c.fields(
        block,
        path,
        {
            "limitCredits": lambda c, v, p: c.number(v, p, maximum=Decimal(10) ** 12),
            "period": lambda c, v, p: c.choice(v, p, BUDGET_PERIODS),
            "tz": _zone,
        },
    )
    missing = [key for key in ("limitCredits", "period") if key not in block]
    for key in missing:
        c.error((*path, key), "is required")
    if missing or len(read) < len(block.keys() & {"limitCredits", "period", "tz"}):
        return None  # a value was invalid (already reported)
    return BudgetPolicy(read["limitCredits"], read["period"], read.get("tz", "UTC"))


def _zone(c: Checker, value: Any, path: Path) -> str | None:
    name = c.string(value, path)
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        c.error(path, f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)")
        return None
    return name
