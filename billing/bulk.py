"""Set-based writes for the ingest hot path: one statement per batch, not one per row.

On PostgreSQL these go straight to the session's psycopg connection (inside
the session's transaction): ``COPY`` for plain inserts, and ``unnest`` of
column arrays for inserts with conflict handling and for relative updates, so
the SQL text stays short (cached and prepared by the server) whatever the
batch size. SQLite gets the Core ``executemany`` equivalents, which its
driver already runs in C.

Rows are mappings of column name -> value; columns a row lacks are NULL.
Datetimes must be timezone-aware (the UTCDateTime rule of the models).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.orm import Session

from billing.db import upsert_insert


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _driver(session: Session) -> Any:
    """The psycopg connection under the session's current transaction."""
    return session.connection().connection.driver_connection


def _columns(table: Table, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    present: set[str] = set()
    for row in rows:
        present.update(row)
    unknown = present - set(table.c.keys())
    if unknown:
        raise ValueError(f"{table.name}: unknown column(s) {sorted(unknown)}")
    if _python_defaults(table).keys() - present:
        raise ValueError(f"{table.name}: rows must set every column with a Python default")
    return [column.name for column in table.c if column.name in present]


@cache
def _python_defaults(table: Table) -> dict[str, Any]:
    """Columns whose default SQLAlchemy fills in Python (COPY and raw SQL would skip it)."""
    return {c.name: c.default for c in table.c if c.default is not None}


def _value(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value


@cache
def _pg_type(table: Table, name: str) -> str:
    from sqlalchemy.dialects import postgresql

    return str(table.c[name].type.compile(dialect=postgresql.dialect()))


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Plain insert of many rows: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    if not _is_postgres(session):
        session.execute(table.insert(), list(rows))
        return
    columns = _columns(table, rows)
    sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with _driver(session).cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row([_value(row.get(name)) for name in columns])


def insert_new(
    session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
) -> set[Any]:
    """Insert rows whose ``key`` is not taken yet (ON CONFLICT DO NOTHING); the keys inserted.

    Rows are sent in the given order, so unique-index waits happen in that
    order (callers sort when that matters for deadlock freedom).
    """
    if not rows:
        return set()
    if not _is_postgres(session):
        stmt = (
            upsert_insert(session)(table)
            .on_conflict_do_nothing(index_elements=[key])
            .returning(table.c[key])
        )
        return set(session.scalars(stmt, list(rows)))
    columns = _columns(table, rows)
    arrays = [[_value(row.get(name)) for row in rows] for name in columns]
    unnest = ", ".join(f"%s::{_pg_type(table, name)}[]" for name in columns)
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"SELECT * FROM unnest({unnest}) "
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
    )
    with _driver(session).cursor() as cursor:
        cursor.execute(sql, arrays)
        return {row[0] for row in cursor.fetchall()}


def add_amounts(
    session: Session,
    table: Table,
    key: str,
    amount: str,
    deltas: Mapping[Any, int],
    extra: Mapping[str, Any],
) -> None:
    """``amount = amount + delta`` per key (and ``extra`` columns set), in key order."""
    items = sorted((k, d) for k, d in deltas.items() if d)
    if not items:
        return
    if not _is_postgres(session):
        stmt = (
            update(table)
            .where(table.c[key] == bindparam("bulk_key"))
            .values({amount: table.c[amount] + bindparam("bulk_delta"), **extra})
        )
        keyed = [{"bulk_key": k, "bulk_delta": d} for k, d in items]
        session.execute(stmt, keyed, execution_options={"synchronize_session": False})
        return
    sets = ", ".join([f"{amount} = t.{amount} + v.delta", *(f"{name} = %s" for name in extra)])
    sql = (
        f"UPDATE {table.name} AS t SET {sets} "
        f"FROM unnest(%s::{_pg_type(table, key)}[], %s::bigint[]) AS v(key, delta) "
        f"WHERE t.{key} = v.key"
    )
    params: list[Any] = [*(_value(v) for v in extra.values())]
    params += [[k for k, _ in items], [d for _, d in items]]
    with _driver(session).cursor() as cursor:
        cursor.execute(sql, params)
