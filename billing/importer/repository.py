"""Queries of the import (set-based: a batch is a few statements).

Ledger rows, the bulk of an import, skip SQLAlchemy's per-row parameter
processing: the database's writer (billing/dialect) loads them (``COPY`` on
PostgreSQL, multi-row VALUES on the raw sqlite3 connection) and looks up the
keys already present, in the session's one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from billing import dialect
from billing.models import Balance, LedgerEntry
from billing.reports import rollup_repository

IMPORTED_KINDS = ("import", "opening")
_LEDGER = cast(Table, LedgerEntry.__table__)


def roomy_page_cache(session: Session) -> AbstractContextManager[None]:
    """The database's tuning for a long load (SQLite: a larger page cache)."""
    return dialect.of(session).bulk_load(session)


def insert_new_ledger_rows(
    session: Session, rows: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """Insert the rows whose idempotency key is not in the ledger yet; returns those.

    Existing keys are looked up first and the rest is one plain bulk insert:
    far faster than INSERT .. ON CONFLICT .. RETURNING. A concurrent import
    of the same rows fails on the unique key and rolls back instead of
    counting a row twice.
    """
    unique: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        unique.setdefault(row["idempotency_key"], row)
    if not unique:
        return []
    writer = dialect.of(session)
    present = writer.present_keys(session, _LEDGER.c.idempotency_key, list(unique))
    new = [row for key, row in unique.items() if key not in present]
    if not new:
        return new
    writer.load_rows(session, _LEDGER, new)
    rollup_repository.record(session, new)  # imported spend shows in /v1/costs like our own
    return new


def anything_imported(session: Session) -> bool:
    """Whether the ledger holds rows of an earlier import (kinds import or opening).

    Only the import writes those kinds, always keyed ``import:`` or
    ``opening:``, so the unique key's index answers without a scan (kind has
    no index). A grant that merely uses such a key makes this True, which is
    only slower, never wrong.
    """
    key, writer = LedgerEntry.idempotency_key, dialect.of(session)
    match = or_(writer.starts_with(key, "import:"), writer.starts_with(key, "opening:"))
    return session.scalar(select(LedgerEntry.id).where(match).limit(1)) is not None


def imported_sums(session: Session, user_ids: Iterable[str]) -> dict[str, int]:
    """Per user, the sum of the rows the import owns (kinds import and opening)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    stmt = (
        select(LedgerEntry.user_id, func.sum(LedgerEntry.amount_micro))
        .where(LedgerEntry.user_id.in_(ids), LedgerEntry.kind.in_(IMPORTED_KINDS))
        .group_by(LedgerEntry.user_id)
    )
    return {user_id: int(total or 0) for user_id, total in session.execute(stmt)}


def set_refill_settings(session: Session, settings: Mapping[str, Mapping[str, Any]]) -> None:
    """Overwrite the refill columns of existing balances (user id order)."""
    if not settings:
        return
    table = cast(Table, Balance.__table__)
    names = (
        "auto_refill_enabled",
        "refill_interval_value",
        "refill_interval_unit",
        "refill_amount_micro",
        "last_refill_at",
    )
    stmt = (
        update(table)
        .where(table.c.user_id == bindparam("uid"))
        .values({name: bindparam(f"v_{name}") for name in names})
    )
    params = [
        {"uid": user_id, **{f"v_{name}": values[name] for name in names}}
        for user_id, values in sorted(settings.items())
    ]
    session.execute(stmt, params, execution_options={"synchronize_session": False})


def insert_missing_balances(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert the balance rows whose user has none yet; returns the user ids inserted.

    One executemany: a single multi-row VALUES of thousands of rows would
    pass SQLite's bound-parameter limit.
    """
    ids = [row["user_id"] for row in rows]
    if not ids:
        return set()
    present = set(session.scalars(select(Balance.user_id).where(Balance.user_id.in_(ids))))
    new = [row for row in rows if row["user_id"] not in present]
    if new:
        session.execute(cast(Table, Balance.__table__).insert(), new)
    return {row["user_id"] for row in new}
