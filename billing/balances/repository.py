"""Queries over balances and the ledger (the only place that builds them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from billing import dialect
from billing.balances import known as known_users
from billing.dialect import InList, StaticQuery
from billing.dialect.rows import RowGroups
from billing.models import Balance, LedgerEntry, Reservation, UserProfile
from billing.models.base import UTCDateTime
from billing.models.reservation import ACTIVE, LEASE, RELEASED
from billing.users.profile import Profile
from billing.users.repository import SETTINGS, profile_of


@dataclass(slots=True)
class BalanceRow:
    user_id: str
    amount_micro: int
    auto_refill_enabled: bool
    refill_interval_value: int
    refill_interval_unit: str
    refill_amount_micro: int
    last_refill_at: datetime | None
    created: bool = False  # inserted by this transaction
    # The user's role and own budget, read with the lock (lock_balances only).
    profile: Profile | None = None


# Core columns, not ORM attributes: selects of them skip the ORM's per-query
# compile state (hot: every usage request locks its users' rows with one).
_BALANCE_COLUMNS = tuple(
    Balance.__table__.c[name]
    for name in (
        "user_id",
        "amount_micro",
        "auto_refill_enabled",
        "refill_interval_value",
        "refill_interval_unit",
        "refill_amount_micro",
        "last_refill_at",
    )
)


def insert_missing_balances(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert balance rows that do not exist yet; returns the user ids inserted.

    Users this process has seen committed (the common case) are skipped
    without a query, others by one indexed read; the rest go in one
    set-based insert, with ON CONFLICT for users another transaction is
    creating right now.
    """
    seen = known_users.known(session)
    rows = [row for row in rows if row["user_id"] not in seen]
    if not rows:
        return set()
    table = Balance.__table__
    assert isinstance(table, Table)
    wanted = [row["user_id"] for row in rows]
    writer = dialect.of(session)
    query = select(table.c.user_id).where(writer.any_of(table.c.user_id, wanted))
    existing = set(session.scalars(query))
    missing = [row for row in rows if row["user_id"] not in existing]
    return writer.insert_new(session, table, "user_id", missing)


def _lock_statement(ids: InList) -> Any:
    # The profile (role, own budget) rides along as correlated lookups, as in the
    # check's read (_HOLDS): the budget alerts after a charge need no query of their own.
    return (
        select(*_BALANCE_COLUMNS, *_profile_lookups())
        .where(ids(Balance.user_id, "ids"))
        .order_by(Balance.user_id)
        .with_for_update(of=Balance)
    )


def _profile_lookups() -> tuple[Any, ...]:
    return tuple(
        select(column).where(UserProfile.user_id == Balance.user_id).scalar_subquery()
        for column in SETTINGS
    )


_LOCK = StaticQuery(_lock_statement)


def _balance_row(values: Sequence[Any]) -> BalanceRow:
    row = BalanceRow(*values)
    if row.last_refill_at is not None:  # UTC on every backend (calendar-month refills)
        row.last_refill_at = row.last_refill_at.astimezone(UTC)
    return row


def lock_balances(
    session: Session,
    user_ids: Iterable[str],
    add: Mapping[str, int] | None = None,
    now: datetime | None = None,
) -> dict[str, BalanceRow]:
    """Read and row-lock balances in user id order (a fixed order: no deadlocks),
    with each user's profile. ``add`` (user -> micro-credits), stamped ``now``, is
    added to the balances found under their locks (on PostgreSQL in the same
    statement); the rows returned are as read, before it."""
    ordered = sorted(set(user_ids))
    if not ordered:
        return {}
    writer = dialect.of(session)
    params = {"ids": ordered}
    if add:
        table = Balance.__table__
        assert isinstance(table, Table)
        extra = {"updated_at": now}
        found = writer.lock_and_add(
            session, _LOCK, params, table, "user_id", "amount_micro", add, extra
        )
    else:
        found = writer.fetch(session, _LOCK, params)
    width = len(_BALANCE_COLUMNS)
    rows = {}
    for values in found:
        row = rows[values[0]] = _balance_row(values[:width])
        row.profile = profile_of(row.user_id, values[width:])
    known_users.remember(session, rows)  # they exist once this transaction commits
    return rows


def known_user_ids(session: Session) -> set[str] | frozenset[str]:
    return known_users.known(session)


def forget_known_users(session: Session, user_ids: Iterable[str]) -> None:
    known_users.forget(session, user_ids)


def get_balance(session: Session, user_id: str) -> BalanceRow | None:
    row = session.execute(select(*_BALANCE_COLUMNS).where(Balance.user_id == user_id)).first()
    return BalanceRow(*row) if row else None


def _holds_statement(ids: InList) -> Any:
    held = (
        select(func.coalesce(func.sum(Reservation.amount_micro), 0))
        .where(
            Reservation.user_id == Balance.user_id,
            Reservation.status == ACTIVE,
            Reservation.expires_at > bindparam("now", type_=UTCDateTime()),
        )
        .scalar_subquery()
    )
    # The profile (role, own budget) rides along as correlated lookups: a user
    # without one costs index probes of a small table, not another query (a
    # join lets PostgreSQL's generic plan scan the balances instead).
    return select(*_BALANCE_COLUMNS, held, *_profile_lookups()).where(ids(Balance.user_id, "ids"))


_HOLDS = StaticQuery(_holds_statement)


def balances_and_holds(
    session: Session, user_ids: Iterable[str], now: datetime
) -> dict[str, tuple[BalanceRow, int, Profile | None]]:
    """user -> (balance, active unexpired holds, profile) for those that have a
    balance; unlocked, one statement (one consistent snapshot on every database)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    found = dialect.of(session).fetch(session, _HOLDS, {"ids": ids, "now": now})
    width = len(_BALANCE_COLUMNS)
    return {
        row[0]: (_balance_row(row[:width]), int(row[width]), profile_of(row[0], row[width + 1 :]))
        for row in found
    }


def held_micro(session: Session, user_ids: Iterable[str], now: datetime) -> dict[str, int]:
    """user -> sum of active holds not yet expired at ``now`` (expired ones stop counting)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    stmt = (
        select(Reservation.user_id, func.sum(Reservation.amount_micro))
        .where(
            Reservation.user_id.in_(ids),
            Reservation.status == ACTIVE,
            Reservation.expires_at > now,
        )
        .group_by(Reservation.user_id)
    )
    return {user_id: int(total or 0) for user_id, total in session.execute(stmt)}


def list_balances(session: Session, *, after: str | None, limit: int) -> list[BalanceRow]:
    stmt = select(*_BALANCE_COLUMNS).order_by(Balance.user_id).limit(limit)
    if after is not None:
        stmt = stmt.where(Balance.user_id > after)
    return [BalanceRow(*row) for row in session.execute(stmt)]


def insert_ledger(session: Session, entries: Sequence[Mapping[str, Any]] | RowGroups) -> None:
    table = LedgerEntry.__table__
    assert isinstance(table, Table)
    writer = dialect.of(session)
    if isinstance(entries, RowGroups):
        writer.insert_groups(session, table, entries)  # one bulk COPY payload on PostgreSQL
    else:
        writer.insert_rows(session, table, entries)  # COPY on PostgreSQL


def delete_usage_rows_written_here(session: Session, events: Mapping[str, str]) -> int:
    """Remove the usage rows this transaction wrote for these events (event_id ->
    user_id: another transaction recorded them first); how many. Rows of other
    transactions stay (the dialect's delete_written_here). Found through the
    user's index."""
    table = LedgerEntry.__table__
    assert isinstance(table, Table)
    writer = dialect.of(session)
    return writer.delete_written_here(
        session,
        table,
        writer.any_of(table.c.user_id, sorted(set(events.values()))),
        table.c.kind == "usage",
        writer.any_of(table.c.event_id, sorted(events)),
    )


def insert_ledger_once(session: Session, entry: Mapping[str, Any]) -> bool:
    """Insert a row with an idempotency key; False when that key already exists."""
    table = LedgerEntry.__table__
    assert isinstance(table, Table)
    return dialect.of(session).insert_once(session, table, "idempotency_key", entry)


def ledger_row_by_key(session: Session, idempotency_key: str) -> LedgerEntry | None:
    return session.scalars(
        select(LedgerEntry).where(LedgerEntry.idempotency_key == idempotency_key)
    ).first()


def add_to_balances(session: Session, deltas: Mapping[str, int], now: datetime) -> None:
    """Relative updates (amount = amount + delta) in user id order, one statement."""
    table = Balance.__table__
    assert isinstance(table, Table)
    writer = dialect.of(session)
    writer.add_amounts(session, table, "user_id", "amount_micro", deltas, {"updated_at": now})


def mark_refilled(session: Session, user_id: str, at: datetime) -> None:
    session.execute(
        update(Balance).where(Balance.user_id == user_id).values(last_refill_at=at, updated_at=at)
    )


def set_refill_settings(session: Session, user_id: str, values: Mapping[str, Any]) -> None:
    session.execute(update(Balance).where(Balance.user_id == user_id).values(**values))


def ledger_sums(session: Session) -> dict[str, int]:
    stmt = select(LedgerEntry.user_id, func.sum(LedgerEntry.amount_micro)).group_by(
        LedgerEntry.user_id
    )
    return {user_id: int(total or 0) for user_id, total in session.execute(stmt)}


def balance_amounts(session: Session, user_ids: Iterable[str]) -> dict[str, int]:
    """user_id -> amount for those of ``user_ids`` that have a balance (one query)."""
    stmt = select(Balance.user_id, Balance.amount_micro).where(
        dialect.of(session).any_of(Balance.user_id, sorted(set(user_ids)))
    )
    return {user_id: amount for user_id, amount in session.execute(stmt)}


def all_balance_amounts(session: Session) -> dict[str, int]:
    return {
        user_id: amount
        for user_id, amount in session.execute(select(Balance.user_id, Balance.amount_micro))
    }


def list_ledger(
    session: Session,
    *,
    user_id: str | None,
    conversation_id: str | None,
    since: datetime | None,
    until: datetime | None,
    after_id: int | None,
    limit: int,
) -> list[LedgerEntry]:
    """Ledger rows newest first, keyset-paged by id."""
    stmt = select(LedgerEntry).order_by(LedgerEntry.id.desc()).limit(limit)
    if user_id is not None:
        stmt = stmt.where(LedgerEntry.user_id == user_id)
    if conversation_id is not None:
        stmt = stmt.where(LedgerEntry.conversation_id == conversation_id)
    if since is not None:
        stmt = stmt.where(LedgerEntry.created_at >= since)
    if until is not None:
        stmt = stmt.where(LedgerEntry.created_at < until)
    if after_id is not None:
        stmt = stmt.where(LedgerEntry.id < after_id)
    return list(session.scalars(stmt))


def release_leases(session: Session, user_id: str, now: datetime) -> int:
    """Release the user's active gateway leases (credit set aside from this balance for
    a worker's coming calls, billing/gateway/leases.py); how many there were."""
    done = session.execute(
        update(Reservation)
        .where(
            Reservation.user_id == user_id,
            Reservation.status == ACTIVE,
            Reservation.kind == LEASE,
        )
        .values(status=RELEASED, closed_at=now),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(done, "rowcount", 0) or 0)
