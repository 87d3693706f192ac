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
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any
from weakref import WeakKeyDictionary

import orjson
from psycopg.types.string import BytesBinaryDumper
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

from billing.dialect.base import ConflictInserts, Dependent, StaticQuery, driver_connection
from billing.dialect.pg_copy import write_rows
from billing.dialect.rows import RowGroups, aware, checked_columns, layout

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
        ~150 us less each than through the session (make bench). Results in binary
        (the same values; integers and timestamps unpacked, not parsed from text)."""
        sql, constants = self._compile(query)
        with _driver(session).cursor() as cursor:
            cursor.execute(sql, {**constants, **params}, binary=True)
            rows: list[Any] = cursor.fetchall()
            return rows

    def _compile(self, query: StaticQuery) -> tuple[str, dict[str, Any]]:
        compiled = self._compiled.get(query)
        if compiled is None:
            compiled = self._compiled[query] = _pg_sql(query.build(_in_array))
        return compiled

    def lock_and_add(
        self,
        session: Session,
        lock: StaticQuery,
        params: Mapping[str, Any],
        table: Table,
        key: str,
        amount: str,
        deltas: Mapping[Any, int],
        extra: Mapping[str, Any],
    ) -> Sequence[Sequence[Any]]:
        """One statement: the read locks its rows in its CTE (in its ORDER BY order),
        and the update, a data-modifying CTE, changes only rows that read returned,
        so already locked, never one first (one round trip less than the two
        statements; the lock order stays the read's). At READ COMMITTED a row another
        transaction changed while the read waited for it is read, and updated, in
        its newest version. The read's rows are those before the update (one
        snapshot for the whole statement)."""
        items = sorted((k, d) for k, d in deltas.items() if d)
        if not items:
            return self.fetch(session, lock, params)
        lock_sql, constants = self._compile(lock)
        sql = _lock_and_add_sql(lock_sql, table, key, amount, tuple(extra))
        values = {f"add_{name}": aware(value) for name, value in extra.items()}
        values["add_deltas"] = _json_rows([{"key": k, "delta": d} for k, d in items])
        with _driver(session).cursor() as cursor:
            cursor.execute(sql, {**constants, **params, **values}, binary=True)
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
        if len(rows) < COPY_MIN_ROWS:
            _insert_values(session, table, checked_columns(table, rows), rows, "")
            return
        columns, values = layout(table, rows)
        sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        types = _copy_types(session, table.name)
        with _copy_cursor(session) as cursor, cursor.copy(sql) as copy:
            copy.set_types([types[name] for name in columns])
            write_rows(copy, values)

    def insert_groups(self, session: Session, table: Table, groups: RowGroups) -> None:
        """As insert_rows, the rows' values made by one tuple concatenation each (no
        mapping per row to lay out: ~1 ms less per 1,000 events' ledger rows)."""
        if len(groups) < COPY_MIN_ROWS:
            super().insert_groups(session, table, groups)
            return
        groups.check(table)
        columns = groups.columns
        sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        types = _copy_types(session, table.name)
        with _copy_cursor(session) as cursor, cursor.copy(sql) as copy:
            copy.set_types([types[name] for name in columns])
            write_rows(copy, [values + shared for shared, own in groups.groups for values in own])

    def load_rows(self, session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        self.insert_rows(session, table, rows)  # COPY is the fastest way in already

    def insert_new(
        self, session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
    ) -> set[Any]:
        """In ``key`` order (ORDER BY in the statement): two transactions sharing keys
        wait on each other's unique-index entries in the same order (no deadlock)."""
        if not rows:
            return set()
        if len(rows) < COPY_MIN_ROWS:
            suffix = f" ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
            columns = checked_columns(table, rows)
            returned = _insert_values(session, table, columns, rows, suffix, order_by=key)
            return {row[0] for row in returned}
        columns, values = layout(table, rows)
        # COPY into a per-connection temp table, then one INSERT ... SELECT: COPY
        # is ~10x cheaper than array or VALUES parameters on both ends of the wire.
        names = ", ".join(columns)
        stage = f"bulk_{table.name}_{zlib.crc32(names.encode()):08x}"
        with _copy_cursor(session) as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS "
                f"AS SELECT {names} FROM {table.name} WITH NO DATA"
            )
            types = _copy_types(session, table.name)
            with cursor.copy(f"COPY {stage} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types([types[name] for name in columns])
                write_rows(copy, values)
            cursor.execute(
                f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {stage} ORDER BY {key} "
                f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
            )
            inserted = {row[0] for row in cursor.fetchall()}
            cursor.execute(f"DELETE FROM {stage}")  # callers may insert again in this transaction
            return inserted

    def insert_new_with(
        self,
        session: Session,
        table: Table,
        key: str,
        rows: Sequence[Mapping[str, Any]],
        dependents: Sequence[Dependent],
    ) -> set[Any]:
        """A few rows: one statement, the dependents' inserts as data-modifying CTEs
        reading the keys the first insert returned (one round trip instead of one
        per table; more rows: COPY, one statement after the other)."""
        dependents = [dependent for dependent in dependents if dependent.rows]
        if not rows or len(rows) >= COPY_MIN_ROWS or not dependents:
            return super().insert_new_with(session, table, key, rows, dependents)
        columns = checked_columns(table, rows)
        shapes = tuple(
            (d.table, tuple(checked_columns(d.table, d.rows, d.key)), d.key, d.sum_by)
            for d in dependents
        )
        sql = _insert_new_with_sql(table, tuple(columns), key, shapes)
        documents = [_json_rows(rows), *(_json_rows(dependent.rows) for dependent in dependents)]
        with _driver(session).cursor() as cursor:
            cursor.execute(sql, documents)
            return {found for (found,) in cursor.fetchall()}

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
            f"FROM json_to_recordset(%s::json) AS v(key {_json_type(table, key)}, delta bigint) "
            f"WHERE t.{key} = v.key"
        )
        params: list[Any] = [*(aware(v) for v in extra.values())]
        params.append(_json_rows([{"key": k, "delta": d} for k, d in items]))
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


def _driver(session: Session) -> Any:
    """The psycopg connection under the session's current transaction."""
    return driver_connection(session)


def _copy_cursor(session: Session) -> Any:
    """A cursor for binary COPY whose bytea values go through psycopg's C dumper:
    the one bytea's oid maps to by default is psycopg.dbapi20's Python dumper
    (for its ``Binary`` wrapper, not used here), two Python calls per value
    (~0.5 ms per 1,000-event batch: a fingerprint per event)."""
    cursor = _driver(session).cursor()
    cursor.adapters.register_dumper(bytes, BytesBinaryDumper)  # this cursor only
    return cursor


def _in_array(column: Any, name: str) -> ColumnElement[bool]:
    # A list parameter, dumped by psycopg as an array of the column's type. Not the
    # text of an array literal cast in the SQL: PostgreSQL then evaluated the cast
    # per row of a sequential scan (a 1,000-id read took seconds in make bench).
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
    rows: Sequence[Mapping[str, Any]],
    suffix: str,
    order_by: str | None = None,
) -> list[Any]:
    """A few rows (checked by ``layout``) as one ``INSERT ... SELECT FROM
    json_to_recordset(%s)``: one text parameter, so the SQL text is the same for
    any number of rows and the driver prepares it once. The rows go as one JSON
    document, built in C (orjson): psycopg dumps array parameters in Python, ~18
    us an array, one per column (a single event's three inserts spent ~0.9 ms of
    CPU on them; a multi-row VALUES list is re-parsed by psycopg on every call)."""
    names = ", ".join(columns)
    record = ", ".join(f"{name} {_json_type(table, name)}" for name in columns)
    order = f" ORDER BY {order_by}" if order_by else ""
    sql = (
        f"INSERT INTO {table.name} ({names}) "
        f"SELECT {names} FROM json_to_recordset(%s::json) AS v({record}){order}{suffix}"
    )
    with _driver(session).cursor() as cursor:
        cursor.execute(sql, [_json_rows(rows)])
        return cursor.fetchall() if suffix else []


# (table, its columns set, the field naming the key, sum_by) of a Dependent's rows.
DependentShape = tuple[Table, tuple[str, ...], str, tuple[str, ...]]


@lru_cache(maxsize=64)
def _insert_new_with_sql(
    table: Table, columns: tuple[str, ...], key: str, dependents: tuple[DependentShape, ...]
) -> str:
    """insert_new_with's statement: ``new`` inserts the rows (in key order) and
    returns the keys inserted; each dependent's insert keeps its rows whose key
    is among them (summed per ``sum_by``). One JSON document parameter each."""
    names = ", ".join(columns)
    record = ", ".join(f"{name} {_json_type(table, name)}" for name in columns)
    steps = [
        f"new AS (INSERT INTO {table.name} ({names}) SELECT {names} "
        f"FROM json_to_recordset(%s::json) AS v({record}) ORDER BY {key} "
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {key})"
    ]
    for number, (target, kept, field, sum_by) in enumerate(dependents):
        fields = [f"{name} {_json_type(target, name)}" for name in kept]
        if field not in kept:
            fields.append(f"{field} {_json_type(table, key)}")
        picked, grouped = ", ".join(kept), ""
        if sum_by:
            picked = ", ".join(name if name in sum_by else f"sum({name})" for name in kept)
            grouped = f" GROUP BY {', '.join(sum_by)}"
        steps.append(
            f"d{number} AS (INSERT INTO {target.name} ({', '.join(kept)}) SELECT {picked} "
            f"FROM json_to_recordset(%s::json) AS v({', '.join(fields)}) "
            f"WHERE v.{field} IN (SELECT {key} FROM new){grouped})"
        )
    return f"WITH {', '.join(steps)} SELECT {key} FROM new"


@lru_cache(maxsize=16)
def _lock_and_add_sql(
    lock_sql: str, table: Table, key: str, amount: str, extra: tuple[str, ...]
) -> str:
    sets = ", ".join([f"{amount} = t.{amount} + v.delta", *(f"{n} = %(add_{n})s" for n in extra)])
    return (
        f"WITH locked AS ({lock_sql}), added AS ("
        f"UPDATE {table.name} AS t SET {sets} "
        f"FROM json_to_recordset(%(add_deltas)s::json) AS v(key {_json_type(table, key)}, "
        f"delta bigint) WHERE t.{key} = v.key AND t.{key} IN (SELECT {key} FROM locked)"
        ") SELECT * FROM locked"
    )


def _json_rows(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as one JSON array of objects (built in C)."""
    document = orjson.dumps(
        [row if type(row) is dict else dict(row) for row in rows], default=_json_value
    )
    return document.decode()


@cache
def _json_type(table: Table, name: str) -> str:
    """The column's type in a json_to_recordset definition: strings as text, so the
    insert's assignment checks the length (an error, never a silent truncation)."""
    kind = _pg_type(table, name)
    return "text" if kind.startswith("VARCHAR") else kind


def _json_value(value: Any) -> str:
    """JSON for what orjson leaves out: bytes in bytea's hex input form; exact decimals."""
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a column value")
