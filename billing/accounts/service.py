"""Setting a user's role and budget (admin), reading them back.

Setting either also creates the user's balance (first sight, with the role's
startBalance), so every user with a profile has a balance row: the check's
single unlocked read finds the profile through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billing import money
from billing.audit import service as audit
from billing.audit.types import BUDGET_DELETE, BUDGET_SET, ROLE_SET, user_target
from billing.balances.service import MAX_ABS_MICRO, touch_users
from billing.budgets.rules import state
from billing.budgets.types import BudgetState
from billing.config.model import AppConfig
from billing.errors import InvalidRequest, NotFound, UserNotFound
from billing.reports.timezones import parse_zone
from billing.users import repository as users_repo
from billing.users.profile import Profile, effective_budget

_NO_BUDGET = {"budget_limit_micro": None, "budget_period": None, "budget_tz": None}


@dataclass(frozen=True, slots=True)
class UserView:
    user_id: str
    role: str | None
    budget: BudgetState | None


def _profile(session: Session, user_id: str) -> Profile | None:
    return users_repo.profiles(session, [user_id]).get(user_id)


def _budget_state(
    session: Session, config: AppConfig, user_id: str, now: datetime
) -> BudgetState | None:
    budget = effective_budget(config, _profile(session, user_id))
    return state(session, user_id, budget, now) if budget is not None else None


def set_role(
    session: Session,
    config: AppConfig,
    user_id: str,
    role: str | None,
    now: datetime,
    *,
    actor: str,
) -> UserView:
    users_repo.ensure_profiles(session, [user_id], now)
    # The role is stored first: a new user's balance starts with the role's policy.
    touch_users(session, [user_id], config, now, {user_id: role})
    _record(session, ROLE_SET, user_id, actor, {"role": role}, now)
    return UserView(user_id, role, _budget_state(session, config, user_id, now))


def get_user(session: Session, config: AppConfig, user_id: str, now: datetime) -> UserView:
    profile = _profile(session, user_id)
    if profile is None:
        raise UserNotFound(f"no role or budget is set for user_id {user_id!r}")
    return UserView(user_id, profile.role, _budget_state(session, config, user_id, now))


def set_budget(
    session: Session,
    config: AppConfig,
    user_id: str,
    limit_credits: Decimal,
    period: str,
    tz: str | None,
    now: datetime,
    *,
    actor: str,
) -> BudgetState:
    limit_micro = money.micro_from_credits(limit_credits)
    if limit_micro < 0 or limit_micro > MAX_ABS_MICRO:
        raise InvalidRequest(
            f"limit_credits: must be from 0 to {money.credits_str(MAX_ABS_MICRO)}",
            field="limit_credits",
        )
    zone = parse_zone(tz or "UTC").key
    users_repo.set_budget(
        session,
        user_id,
        {"budget_limit_micro": limit_micro, "budget_period": period, "budget_tz": zone},
        now,
    )
    touch_users(session, [user_id], config, now)  # holds on this budget lock this row
    current = _budget_state(session, config, user_id, now)
    assert current is not None, "the budget was just set"
    details = {"limit_credits": money.credits_str(limit_micro), "period": period, "tz": zone}
    _record(session, BUDGET_SET, user_id, actor, details, now)
    return current


def get_budget(session: Session, config: AppConfig, user_id: str, now: datetime) -> BudgetState:
    current = _budget_state(session, config, user_id, now)
    if current is None:
        raise NotFound(f"no budget applies to user_id {user_id!r} (none set, none for the role)")
    return current


def delete_budget(
    session: Session, config: AppConfig, user_id: str, now: datetime, *, actor: str
) -> BudgetState:
    """Remove the user's own budget; answers it as it was (a role's default then applies)."""
    profile = _profile(session, user_id)
    own = profile.own_budget() if profile is not None else None
    if own is None:
        raise NotFound(f"user_id {user_id!r} has no budget of their own to delete")
    removed = state(session, user_id, own, now)
    users_repo.set_budget(session, user_id, _NO_BUDGET, now)
    details = {"limit_credits": money.credits_str(own.limit_micro), "period": own.period}
    _record(session, BUDGET_DELETE, user_id, actor, details, now)
    return removed


def _record(
    session: Session, action: str, user_id: str, actor: str, details: dict[str, Any], now: datetime
) -> None:
    target = user_target(user_id)
    audit.record(
        session, action=action, target=target, reason=None, key_id=actor, details=details, now=now
    )
