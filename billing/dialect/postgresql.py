"""The PostgreSQL writer: set-based SQL on the session's psycopg connection.

Batches of COPY_MIN_ROWS rows or more go straight to the session's psycopg
connection (inside the session's transaction): ``COPY`` for plain inserts,
``COPY`` into a temp table then one ``INSERT ... SELECT ... ON CONFLICT`` for
inserts with conflict handling; smaller batches as one ``INSERT ... SELECT
FROM unnest`` of one array per column; relative updates as ``unnest`` of two
arrays. Measured with ``make bench``: COPY costs ~10x less than array or
VALUES parameters for wide rows, on the client and on the server; binary COPY
halves the client's cost again (psycopg dumps each value in C, no text
formatting). The thresholds here tune speed only: which ingest algorithm runs
is billing/usage/ingest.py's choice.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Table,
    any_,
    bindparam,
    cast,
    delete,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from billing.dialect.base import ConflictInserts, StaticQuery
from billing.dialect.rows import aware, layout

# Below this many rows one INSERT of unnest arrays (one round trip) beats COPY's
# two round trips and the temp-table staging of insert_new.
COPY_MIN_ROWS = 50
# Below this many values a plain IN list is cheaper to build than an array
# parameter, and short either way.
ARRAY_MIN_VALUES = 50
# The row was written by this transaction: a row's xmin is the 32-bit id of the
# transaction that wrote it, txid_current() the 64-bit id (epoch included) of
# the top-level transaction. A row written inside a SAVEPOINT carries the
# subtransaction's id instead, which is why delete_written_here refuses to run
# in one.
_WRITTEN_HERE = text("xmin::text::bigint = txid_current() % 4294967296")


class PostgreSQL(ConflictInserts):
    name = "postgresql"
    single_writer = False
    # One snapshot for the whole transaction (READ COMMITTED takes one per statement).
    snapshot_options: Mapping[str, Any] = {"isolation_level": "REPEATABLE READ"}

    insert_statement = staticmethod(pg_insert)

    def __init__(self) -> None:
        self._compiled: dict[StaticQuery, tuple[str, dict[str, Any]]] = {}

    def any_of(self, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
        """``= ANY(array)`` for many values: one parameter, so the SQL text is the same
        for every batch (cached by the driver, no re-parsing)."""
        values = list(values)
        if len(values) >= ARRAY_MIN_VALUES:
            return column == any_(bindparam(None, values, type_=_array_of(column)))
        result: ColumnElement[bool] = column.in_(values)
        return result

    def fetch(
        self, session: Session, query: StaticQuery, params: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        """Straight on the driver with SQL compiled once: the hot path's reads cost
        ~150 us less each than through the session (make bench)."""
        compiled = self._compiled.get(query)
        if compiled is None:
            compiled = self._compiled[query] = _pg_sql(query.build(_in_array))
        sql, constants = compiled
        with _driver(session).cursor() as cursor:
            cursor.execute(sql, {**constants, **params})
            rows: list[Any] = cursor.fetchall()
            return rows

    def epoch_seconds(self, when: Any) -> ColumnElement[int]:
        return cast(func.floor(func.extract("epoch", when)), BigInteger)

    def starts_with(self, column: Any, prefix: str) -> ColumnElement[bool]:
        # LIKE, not a range: under a linguistic collation ':' may not sort bytewise.
        if "%" in prefix or "_" in prefix or "\\" in prefix:
            raise ValueError(f"prefix {prefix!r} holds a LIKE wildcard")
        result: ColumnElement[bool] = column.like(f"{prefix}%")
        return result

    def insert_rows(
        self, session: Session, table: Table, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        if not rows:
            return
        columns, values = layout(table, rows)
        if len(rows) < COPY_MIN_ROWS:
            _insert_values(session, table, columns, values, "")
            return
        sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        types = _copy_types(session, table.name)
        with _driver(session).cursor() as cursor, cursor.copy(sql) as copy:
            copy.set_types([types[name] for name in columns])
            for row in values:
                copy.write_row(row)

    def load_rows(self, session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        self.insert_rows(session, table, rows)  # COPY is the fastest way in already

    def insert_new(
        self, session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
    ) -> set[Any]:
        """In ``key`` order (ORDER BY in the statement): two transactions sharing keys
        wait on each other's unique-index entries in the same order (no deadlock)."""
        if not rows:
            return set()
        columns, values = layout(table, rows)
        if len(rows) < COPY_MIN_ROWS:
            suffix = f" ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
            returned = _insert_values(session, table, columns, values, suffix, order_by=key)
            return {row[0] for row in returned}
        # COPY into a per-connection temp table, then one INSERT ... SELECT: COPY
        # is ~10x cheaper than array or VALUES parameters on both ends of the wire.
        names = ", ".join(columns)
        stage = f"bulk_{table.name}_{zlib.crc32(names.encode()):08x}"
        with _driver(session).cursor() as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS "
                f"AS SELECT {names} FROM {table.name} WITH NO DATA"
            )
            types = _copy_types(session, table.name)
            with cursor.copy(f"COPY {stage} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types([types[name] for name in columns])
                for row in values:
                    copy.write_row(row)
            cursor.execute(
                f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {stage} ORDER BY {key} "
                f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
            )
            inserted = {row[0] for row in cursor.fetchall()}
            cursor.execute(f"DELETE FROM {stage}")  # callers may insert again in this transaction
            return inserted

    def update_rows(
        self, session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """One ``UPDATE ... FROM unnest`` of one array per column (an executemany of
        single-row updates costs ~3x more for a reprice chunk: benchmarks/reprice.py)."""
        if not rows:
            return
        columns = [key, *(name for name in rows[0] if name != key)]
        sets = ", ".join(f"{name} = v.{name}" for name in columns[1:])
        arrays = ", ".join(f"%b::{_pg_type(table, name)}[]" for name in columns)
        sql = (
            f"UPDATE {table.name} AS t SET {sets} FROM unnest({arrays}) "
            f"AS v({', '.join(columns)}) WHERE t.{key} = v.{key}"
        )
        params = [[row[name] for row in rows] for name in columns]
        with _driver(session).cursor() as cursor:
            cursor.execute(sql, params)

    def add_amounts(
        self,
        session: Session,
        table: Table,
        key: str,
        amount: str,
        deltas: Mapping[Any, int],
        extra: Mapping[str, Any],
    ) -> None:
        items = sorted((k, d) for k, d in deltas.items() if d)
        if not items:
            return
        sets = ", ".join([f"{amount} = t.{amount} + v.delta", *(f"{name} = %s" for name in extra)])
        sql = (
            f"UPDATE {table.name} AS t SET {sets} "
            f"FROM unnest(%b::{_pg_type(table, key)}[], %b::bigint[]) AS v(key, delta) "
            f"WHERE t.{key} = v.key"
        )
        params: list[Any] = [*(aware(v) for v in extra.values())]
        params += [[k for k, _ in items], [d for _, d in items]]
        with _driver(session).cursor() as cursor:
            cursor.execute(sql, params)

    def delete_written_here(self, session: Session, table: Table, *where: Any) -> int:
        if session.in_nested_transaction():
            raise RuntimeError(
                "delete_written_here inside a SAVEPOINT: rows written there carry the "
                "subtransaction's id, not txid_current(), and would stay"
            )
        result: Any = session.execute(delete(table).where(*where, _WRITTEN_HERE))
        return int(result.rowcount)

    def present_keys(self, session: Session, column: Any, keys: Sequence[Any]) -> set[Any]:
        # One array parameter: the same short SQL text for every batch.
        sql = f"SELECT {column.name} FROM {column.table.name} WHERE {column.name} = ANY(%s)"
        with _driver(session).cursor() as cursor:
            cursor.execute(sql, [list(keys)])
            return {key for (key,) in cursor.fetchall()}

    @contextmanager
    def bulk_load(self, session: Session) -> Iterator[None]:
        yield  # nothing to tune per session

    def commit_without_flush(self, session: Session) -> None:
        # The commit does not wait for the WAL flush (the next synchronous commit flushes it).
        _driver(session).execute("SET LOCAL synchronous_commit TO OFF")


def _driver(session: Session) -> Any:
    """The psycopg connection under the session's current transaction."""
    return session.connection().connection.driver_connection


def _in_array(column: Any, name: str) -> ColumnElement[bool]:
    result: ColumnElement[bool] = column == any_(bindparam(name, type_=_array_of(column)))
    return result


@cache
def _array_of(column: Any) -> ARRAY[Any]:
    return ARRAY(column.type)


@cache
def _pg_type(table: Table, name: str) -> str:
    from sqlalchemy.dialects import postgresql

    return str(table.c[name].type.compile(dialect=postgresql.dialect()))


def _pg_sql(statement: Any) -> tuple[str, dict[str, Any]]:
    """The statement's SQL for psycopg, and the values of its constant parameters."""
    from sqlalchemy.dialects.postgresql import psycopg

    compiled = statement.compile(dialect=psycopg.dialect())
    # Binary parameters: text-format arrays escape every element with a regex.
    sql = re.sub(r"%\((\w+)\)s", r"%(\1)b", str(compiled))
    return sql, dict(compiled.params)


# engine -> table -> column types: per engine, as two databases (of one test
# run, say) need not have the same schema.
_COPY_TYPES: WeakKeyDictionary[Any, dict[str, dict[str, str]]] = WeakKeyDictionary()


def _copy_types(session: Session, table: str) -> dict[str, str]:
    """``column_types`` of the session's database, read once per engine and table."""
    tables = _COPY_TYPES.setdefault(session.get_bind(), {})
    found = tables.get(table)
    if found is None:
        found = tables[table] = column_types(_driver(session), table)
    return found


def column_types(driver: Any, table: str) -> dict[str, str]:
    """column -> PostgreSQL type name, from the catalog (psycopg connection ``driver``):
    binary COPY must send each value in exactly its column's type (int8 is not int4)."""
    rows = driver.execute(
        "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
        " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
        [table],
    ).fetchall()
    return dict(rows)


def _insert_values(
    session: Session,
    table: Table,
    columns: list[str],
    values: list[Any],
    suffix: str,
    order_by: str | None = None,
) -> list[Any]:
    """A few rows as one ``INSERT ... SELECT FROM unnest(arrays)``: one parameter per
    column, so the SQL text is the same for any number of rows and the driver
    parses it once and prepares it (a multi-row VALUES list was re-parsed by
    psycopg on every call: ~2.4 ms of a 9-event group commit, cProfile)."""
    names = ", ".join(columns)
    # %b: binary arrays (the text format escapes every string with a regex).
    arrays = ", ".join(f"%b::{_pg_type(table, name)}[]" for name in columns)
    order = f" ORDER BY {order_by}" if order_by else ""
    sql = (
        f"INSERT INTO {table.name} ({names}) "
        f"SELECT * FROM unnest({arrays}) AS v({names}){order}{suffix}"
    )
    params = [list(column) for column in zip(*values, strict=True)]
    with _driver(session).cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if suffix else []
