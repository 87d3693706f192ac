"""Roles sent with requests (usage events, checks, reservations, the gateway's
X-Billing-User-Role) or set by an admin: stored before the user's balance is
touched, so a user first seen with a role starts with that role's policy."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from billing.balances import repository as repo
from billing.config.model import AppConfig
from billing.users import repository as users_repo
from billing.users.profile import refill_settings, role_policy


def assign_roles(
    session: Session, roles: Mapping[str, str | None], now: datetime
) -> dict[str, str | None]:
    """Store the roles that differ from what is stored (one read; writes only for
    changes); returns those changed. Profile rows only: the changed users' balances
    take the new role's auto-refill settings (``role_refills``) under their row
    locks, taken later in user id order (billing/balances/service.py ``touch_users``)."""
    if not roles:
        return {}
    current = users_repo.roles(session, roles)
    changed = {user: role for user, role in roles.items() if current.get(user) != role}
    if changed:
        users_repo.set_roles(session, changed, now)
    return changed


def role_refills(
    config: AppConfig, changed: Mapping[str, str | None]
) -> dict[str, dict[str, object]]:
    """user -> the balance's auto-refill settings of their new role, for roles with
    a policy (imported or default settings stay otherwise), in user id order."""
    return {
        user_id: refill_settings(config, role)
        for user_id, role in sorted(changed.items(), key=lambda item: item[0])
        if role_policy(config, role) is not None
    }


def store_roles(
    session: Session, config: AppConfig, roles: Mapping[str, str | None], now: datetime
) -> None:
    """Store roles where no balance is locked afterwards (usage with transactions
    disabled): existing balances take the new role's refill settings, in user id order."""
    changed = assign_roles(session, roles, now)
    for user_id, settings in role_refills(config, changed).items():
        repo.set_refill_settings(session, user_id, settings)


def roles_differ(stored: str | None, sent: str | None) -> bool:
    """Does a request's role (None: not sent) change what is stored?"""
    return sent is not None and sent != stored
