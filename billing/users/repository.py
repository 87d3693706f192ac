"""Queries over user_profile (roles and own budgets)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from billing import dialect
from billing.models import UserProfile
from billing.users.profile import Profile

# Core columns in Profile's field order; SETTINGS (all but user_id) also ride
# along in the check's read of the balance.
PROFILE_COLUMNS = tuple(
    UserProfile.__table__.c[name]
    for name in ("user_id", "role", "budget_limit_micro", "budget_period", "budget_tz")
)
SETTINGS = PROFILE_COLUMNS[1:]


def profile_of(user_id: str, settings: Sequence[Any]) -> Profile | None:
    """A Profile from SETTINGS values; None when nothing is set (or there is no row)."""
    return None if settings.count(None) == len(settings) else Profile(user_id, *settings)


def profiles(session: Session, user_ids: Iterable[str]) -> dict[str, Profile]:
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(*PROFILE_COLUMNS).where(dialect.of(session).any_of(UserProfile.user_id, ids))
    )
    return {row[0]: Profile(*row) for row in rows}


def roles(session: Session, user_ids: Iterable[str]) -> dict[str, str]:
    """user -> role, for those of ``user_ids`` that have one."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    stmt = select(UserProfile.user_id, UserProfile.role).where(
        dialect.of(session).any_of(UserProfile.user_id, ids)
    )
    return {user_id: role for user_id, role in session.execute(stmt) if role is not None}


def ensure_profiles(session: Session, user_ids: Iterable[str], now: datetime) -> None:
    """Insert empty profiles for users that have none (one set-based insert)."""
    table = UserProfile.__table__
    assert isinstance(table, Table)
    rows = [{"user_id": u, "created_at": now, "updated_at": now} for u in sorted(set(user_ids))]
    dialect.of(session).insert_new(session, table, "user_id", rows)


def set_roles(session: Session, roles_by_user: Mapping[str, str | None], now: datetime) -> None:
    """Store these users' roles: one insert of missing profiles, one update per role.

    The rows are locked first, in user id order (one statement): the updates per
    role would otherwise lock them in another order than a concurrent call's."""
    ensure_profiles(session, roles_by_user, now)
    ids = sorted(roles_by_user)
    session.execute(
        select(UserProfile.user_id)
        .where(dialect.of(session).any_of(UserProfile.user_id, ids))
        .order_by(UserProfile.user_id)
        .with_for_update()
    )
    by_role: dict[str | None, list[str]] = {}
    for user_id, role in roles_by_user.items():
        by_role.setdefault(role, []).append(user_id)
    for role, users in sorted(by_role.items(), key=lambda item: item[0] or ""):
        session.execute(
            update(UserProfile)
            .where(dialect.of(session).any_of(UserProfile.user_id, sorted(users)))
            .values(role=role, updated_at=now)
        )


def set_budget(session: Session, user_id: str, values: Mapping[str, Any], now: datetime) -> None:
    """``values``: budget_limit_micro, budget_period, budget_tz (all None to remove)."""
    ensure_profiles(session, [user_id], now)
    session.execute(
        update(UserProfile).where(UserProfile.user_id == user_id).values(**values, updated_at=now)
    )
