"""Balance rules: first sight (startBalance), lazy auto-refill, grants, set, reconcile."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from billing import metrics, money
from billing.audit import service as audit
from billing.audit.types import BALANCE_GRANT, BALANCE_SET, user_target
from billing.balances import repository as repo
from billing.balances.refill import add_interval, refill_due
from billing.balances.repository import BalanceRow
from billing.balances.roles import assign_roles, role_refills
from billing.balances.types import BalanceView, Grant, Transaction, TransactionFilter
from billing.config.model import AppConfig
from billing.errors import Conflict, InvalidRequest, UserNotFound
from billing.ledger import ledger_row
from billing.users import repository as users_repo
from billing.users.profile import refill_settings, start_balance
from billing.webhooks import hooks as webhook_hooks

# Largest |balance| we accept, far inside the signed 64-bit micro-credit column.
MAX_ABS_MICRO = 10**18


def touch_users(
    session: Session,
    user_ids: Iterable[str],
    config: AppConfig,
    now: datetime,
    roles: Mapping[str, str | None] | None = None,
    add: Mapping[str, int] | None = None,
) -> dict[str, BalanceRow]:
    """Lock the users' balances (creating them on first sight) and apply due refills.

    Must run inside the request's transaction before any change to these
    balances. Locks are taken in user id order, so concurrent batches over
    overlapping users cannot deadlock. Returns the locked rows, current.
    ``roles`` (user -> role sent) are stored first, so a new user starts with
    the role's policy and a changed role's refill settings apply under the lock.
    ``add`` (user -> micro-credits, a change of these users' balances) goes to
    the database with the lock (``charge``); the rows returned do not show it.
    """
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    changed = assign_roles(session, roles, now) if roles else {}
    created = _create_missing(session, ids, config, now)
    rows = repo.lock_balances(session, ids, add, now)
    lost = [user_id for user_id in ids if user_id not in rows]
    if lost:  # remembered as existing, but the row was removed outside the service
        repo.forget_known_users(session, lost)
        created |= _create_missing(session, lost, config, now)
        rows.update(repo.lock_balances(session, lost, add, now))
    for user_id in created:
        rows[user_id].created = True
    for user_id, settings in role_refills(config, changed).items():
        row = rows.get(user_id)
        if row is not None and not row.created:  # created with the role's settings already
            repo.set_refill_settings(session, user_id, settings)
            for name, value in settings.items():
                setattr(row, name, value)
    if config.balance.enabled:
        _apply_due_refills(session, rows, now)
    return rows


def charge(
    session: Session,
    config: AppConfig,
    deltas: Mapping[str, int],
    now: datetime,
    roles: Mapping[str, str | None] | None = None,
) -> dict[str, BalanceRow]:
    """Apply changes (user -> micro-credits) whose ledger rows the caller has written in
    this transaction: lock the balances (``touch_users``: in user id order, created
    on first sight, due refills applied; ``roles`` stored before) and add the
    changes under those locks, one relative update (with the lock on PostgreSQL:
    relative updates commute with the refills'); user -> the locked row, its
    amount now the new balance."""
    rows = touch_users(session, deltas, config, now, roles, add=deltas)
    for user_id, row in rows.items():
        row.amount_micro += deltas.get(user_id, 0)
    return rows


def _create_missing(session: Session, ids: list[str], config: AppConfig, now: datetime) -> set[str]:
    seen = repo.known_user_ids(session)
    ids = [user_id for user_id in ids if user_id not in seen]  # rows exist: nothing to build
    if not ids:
        return set()
    cfg = config.balance
    roles = _roles_of_unseen(session, ids, config)
    starts = {
        user_id: money.micro_from_credits(start_balance(config, roles.get(user_id)))
        if cfg.enabled
        else 0
        for user_id in ids
    }
    new_rows = [
        {
            "user_id": user_id,
            "amount_micro": starts[user_id],
            **refill_settings(config, roles.get(user_id)),
            "last_refill_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for user_id in ids
    ]
    created = repo.insert_missing_balances(session, new_rows)
    granted = sorted(user_id for user_id in created if starts[user_id])
    if granted:
        repo.insert_ledger(
            session,
            [
                ledger_row(
                    user_id,
                    "start_balance",
                    starts[user_id],
                    now,
                    token_type="credits",
                    idempotency_key=f"start:{user_id}",
                    reason="balance.startBalance",
                )
                for user_id in granted
            ],
        )
        for amount, count in Counter(starts[user_id] for user_id in granted).items():
            metrics.record_grant(session, "start_balance", amount, count=count)
    return created


def _roles_of_unseen(session: Session, ids: list[str], config: AppConfig) -> dict[str, str]:
    """Roles of users that may be new, when role policies are configured (a user
    is created with their role's startBalance and refill settings); no query otherwise."""
    if not config.billing.roles:
        return {}
    seen = repo.known_user_ids(session)
    return users_repo.roles(session, [user_id for user_id in ids if user_id not in seen])


def refill_pending(row: BalanceRow, now: datetime) -> bool:
    """Would touching this balance now add an auto-refill?"""
    return (
        row.auto_refill_enabled
        and row.refill_amount_micro > 0
        and refill_due(row.last_refill_at, row.refill_interval_value, row.refill_interval_unit, now)
    )


def _apply_due_refills(session: Session, rows: dict[str, BalanceRow], now: datetime) -> None:
    deltas: dict[str, int] = {}
    for row in rows.values():
        if not refill_pending(row, now):
            continue
        # The key names the period being refilled: even without the row lock a
        # second refill for the same period would hit the unique constraint.
        period = row.last_refill_at.isoformat() if row.last_refill_at else "initial"
        inserted = repo.insert_ledger_once(
            session,
            ledger_row(
                row.user_id,
                "refill",
                row.refill_amount_micro,
                now,
                token_type="credits",
                context="autoRefill",
                idempotency_key=f"refill:{row.user_id}:{period}",
                reason="balance.autoRefill",
            ),
        )
        if inserted:
            repo.mark_refilled(session, row.user_id, now)
            row.last_refill_at = now
            row.amount_micro += row.refill_amount_micro
            deltas[row.user_id] = row.refill_amount_micro
            metrics.record_refill(session, row.refill_amount_micro)
    repo.add_to_balances(session, deltas, now)
    webhook_hooks.balances_rose(session, {user: rows[user].amount_micro for user in deltas})


def next_refill_at(row: BalanceRow) -> datetime | None:
    if not row.auto_refill_enabled or row.last_refill_at is None:
        return None
    return add_interval(row.last_refill_at, row.refill_interval_value, row.refill_interval_unit)


def _views(session: Session, rows: Sequence[BalanceRow], now: datetime) -> list[BalanceView]:
    """The balances as clients see them, with the credit active, unexpired holds take."""
    held = repo.held_micro(session, (row.user_id for row in rows), now)
    return [
        BalanceView(
            user_id=row.user_id,
            amount_micro=row.amount_micro,
            reserved_micro=held.get(row.user_id, 0),
            auto_refill_enabled=row.auto_refill_enabled,
            refill_interval_value=row.refill_interval_value,
            refill_interval_unit=row.refill_interval_unit,
            refill_amount_micro=row.refill_amount_micro,
            last_refill_at=row.last_refill_at,
            next_refill_at=next_refill_at(row),
        )
        for row in rows
    ]


def get_balance(session: Session, user_id: str, now: datetime) -> BalanceView:
    row = repo.get_balance(session, user_id)
    if row is None:
        raise UserNotFound(f"no balance for user_id {user_id!r}")
    return _views(session, [row], now)[0]


def list_balances(
    session: Session, *, after: str | None, limit: int, now: datetime
) -> list[BalanceView]:
    """Balances in user id order, starting after the user id ``after``."""
    return _views(session, repo.list_balances(session, after=after, limit=limit), now)


def list_transactions(
    session: Session, which: TransactionFilter, *, after_id: int | None, limit: int
) -> list[Transaction]:
    """Ledger rows newest first, keyset-paged: pass the last row's id as ``after_id``."""
    for name, value in (("since", which.since), ("until", which.until)):
        if value is not None and value.tzinfo is None:
            raise InvalidRequest(f"{name}: needs a time zone (e.g. Z)")
    entries = repo.list_ledger(
        session,
        user_id=which.user_id,
        conversation_id=which.conversation_id,
        since=which.since,
        until=which.until,
        after_id=after_id,
        limit=limit,
    )
    # A Transaction's fields are named after the ledger's columns.
    return [Transaction(*(getattr(e, name) for name in _TRANSACTION_FIELDS)) for e in entries]


_TRANSACTION_FIELDS = tuple(field.name for field in fields(Transaction))


def _check_range(amount_micro: int, field: str) -> None:
    if abs(amount_micro) > MAX_ABS_MICRO:
        raise InvalidRequest(f"{field}: the resulting balance would be out of range")


def grant(
    session: Session,
    config: AppConfig,
    user_id: str,
    amount: Decimal,
    *,
    reason: str | None,
    idempotency_key: str | None,
    now: datetime,
    actor: str,
) -> Grant:
    """Add (or, negative, remove) credits; ``applied`` is False for a repeat.

    Repeating a request with the same idempotency key applies it once; the
    same key with a different user or amount is a conflict. ``actor`` (the API
    key's id, billing.actors) is recorded in the audit trail, once per grant applied.
    """
    amount_micro = money.micro_from_credits(amount)
    if amount_micro == 0:
        raise InvalidRequest("amount: must not be zero")
    rows = touch_users(session, [user_id], config, now)
    row = rows[user_id]
    key = f"grant:{idempotency_key}" if idempotency_key else None
    if key is not None and _already_granted(session, key, user_id, amount_micro):
        return Grant(_views(session, [row], now)[0], applied=False)
    _check_range(row.amount_micro + amount_micro, "amount")
    entry = ledger_row(
        user_id,
        "grant",
        amount_micro,
        now,
        token_type="credits",
        reason=reason,
        idempotency_key=key,
        context="admin",
    )
    if key is None:
        repo.insert_ledger(session, [entry])
    elif not repo.insert_ledger_once(session, entry):
        # A concurrent request with this key committed first (for another user,
        # since this user's row is locked): decide against what it wrote.
        if _already_granted(session, key, user_id, amount_micro):
            return Grant(_views(session, [row], now)[0], applied=False)
        raise Conflict("idempotency_key: a concurrent grant with this key is in progress")
    repo.add_to_balances(session, {user_id: amount_micro}, now)
    metrics.record_grant(session, "grant", amount_micro)
    row.amount_micro += amount_micro
    _balance_moved(session, config, row, amount_micro, now)
    details = {"credits": money.credits_str(amount_micro), "idempotency_key": idempotency_key}
    audit.record(
        session,
        action=BALANCE_GRANT,
        target=user_target(user_id),
        reason=reason,
        key_id=actor,
        details=details,
        now=now,
    )
    return Grant(_views(session, [row], now)[0], applied=True)


def _already_granted(session: Session, key: str, user_id: str, amount_micro: int) -> bool:
    existing = repo.ledger_row_by_key(session, key)
    if existing is None:
        return False
    if existing.user_id != user_id or existing.amount_micro != amount_micro:
        raise Conflict("idempotency_key: already used for a different grant")
    return True


def set_balance(
    session: Session,
    config: AppConfig,
    user_id: str,
    credits: Decimal,
    *,
    reason: str | None,
    now: datetime,
    actor: str,
) -> BalanceView:
    """Set the balance to ``credits``, recorded as one ledger row of the difference
    (none when it is unchanged) and one audit entry naming ``actor``."""
    target = money.micro_from_credits(credits)
    _check_range(target, "credits")
    row = touch_users(session, [user_id], config, now)[user_id]
    delta = target - row.amount_micro
    if delta:
        repo.insert_ledger(
            session,
            [
                ledger_row(
                    user_id, "set", delta, now, token_type="credits", reason=reason, context="admin"
                )
            ],
        )
        repo.add_to_balances(session, {user_id: delta}, now)
        metrics.record_grant(session, "set", delta)
        row.amount_micro = target
        _balance_moved(session, config, row, delta, now)
    audit.record(
        session,
        action=BALANCE_SET,
        target=user_target(user_id),
        reason=reason,
        key_id=actor,
        details={"credits": money.credits_str(target), "change": money.credits_str(delta)},
        now=now,
    )
    return _views(session, [row], now)[0]


def _balance_moved(
    session: Session, config: AppConfig, row: BalanceRow, delta: int, now: datetime
) -> None:
    """An admin change of ``delta`` left ``row``: balance.low may fire or re-arm.
    Credit taken away also releases the user's gateway leases (credit a worker set
    aside for coming calls, billing/gateway/leases.py): the workers then hold the
    user's calls against what is left, each learning it from its next record."""
    balances = {row.user_id: row.amount_micro}
    if delta > 0:
        webhook_hooks.balances_rose(session, balances)
    else:
        webhook_hooks.balances_fell(session, config, balances, now)
        released = repo.release_leases(session, row.user_id, now)
        metrics.record_reservation("released", session, released)


@dataclass(frozen=True, slots=True)
class Mismatch:
    user_id: str
    balance_micro: int | None
    ledger_micro: int


def reconcile(session: Session) -> list[Mismatch]:
    """Every user whose balance differs from the sum of their ledger rows."""
    balances = repo.all_balance_amounts(session)
    sums = repo.ledger_sums(session)
    problems = []
    for user_id in sorted(set(balances) | set(sums)):
        balance = balances.get(user_id)
        ledger = sums.get(user_id, 0)
        if balance != ledger:
            problems.append(Mismatch(user_id, balance, ledger))
    return problems
