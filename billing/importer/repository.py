"""Queries of the import (set-based: a batch is a few statements).

Ledger rows, the bulk of an import, skip SQLAlchemy's per-row parameter
processing: on PostgreSQL they go through ``COPY`` (billing.bulk) and the
existing-key lookup is one ``= ANY(array)`` parameter; on SQLite both run on
the raw sqlite3 connection (billing.importer.sqlite_rows). Either way they
stay in the session's one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import orjson
from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from billing import bulk
from billing.importer import sqlite_rows
from billing.models import Balance, LedgerEntry
from billing.reports import rollups

IMPORTED_KINDS = ("import", "opening")
_LEDGER = cast(Table, LedgerEntry.__table__)
# SQLite page cache while importing: bounded (memory stays flat), but large
# enough to hold the hot pages of the ledger's indexes.
SQLITE_IMPORT_CACHE_KIB = 64 * 1024


@contextmanager
def roomy_page_cache(session: Session) -> Iterator[None]:
    """SQLite: a larger page cache for the import, then the previous size again.

    The user and conversation indexes take inserts all over; with SQLite's
    default 2 MiB cache most inserts re-read a page and spill another to the WAL.
    """
    if _is_postgres(session):
        yield
        return
    driver = _driver(session)
    (previous,) = driver.execute("PRAGMA cache_size").fetchone()
    driver.execute(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        driver.execute(f"PRAGMA cache_size = {int(previous)}")


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
    present = _present_keys(session, list(unique))
    new = [row for key, row in unique.items() if key not in present]
    if not new:
        return new
    if _is_postgres(session):
        bulk.insert_rows(session, _LEDGER, new)
    else:
        sqlite_rows.insert_rows(session, _LEDGER, new)
    rollups.record(session, new)  # imported spend shows in /v1/costs like our own
    return new


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _driver(session: Session) -> Any:
    """The DB-API connection under the session's current transaction."""
    return session.connection().connection.driver_connection


def _present_keys(session: Session, keys: list[str]) -> set[str]:
    cursor = _driver(session).cursor()
    try:
        if _is_postgres(session):
            # One array parameter: the same short SQL text for every batch.
            cursor.execute(
                "SELECT idempotency_key FROM ledger_entry WHERE idempotency_key = ANY(%s)", [keys]
            )
            return {key for (key,) in cursor.fetchall()}
        # One row holding a JSON array: sqlite3 gives up the GIL for every row
        # fetched, and the reading thread then keeps it for a while each time.
        cursor.execute(
            "SELECT json_group_array(idempotency_key) FROM ledger_entry "
            f"WHERE idempotency_key IN ({_marks(keys)})",
            keys,
        )
        (found,) = cursor.fetchone()
        return set(orjson.loads(found))
    finally:
        cursor.close()


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def anything_imported(session: Session) -> bool:
    """Whether the ledger holds rows of an earlier import (kinds import or opening).

    Only the import writes those kinds, always keyed ``import:`` or
    ``opening:``, so the unique key's index answers without a scan (kind has
    no index). A grant that merely uses such a key makes this True, which is
    only slower, never wrong.
    """
    key = LedgerEntry.idempotency_key
    if _is_postgres(session):
        # LIKE, not a range: under a linguistic collation ':' may not sort bytewise.
        match = or_(key.like("import:%"), key.like("opening:%"))
    else:  # SQLite compares text bytewise (BINARY); its LIKE ignores case and the index
        match = or_(
            and_(key >= "import:", key < "import;"), and_(key >= "opening:", key < "opening;")
        )
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
