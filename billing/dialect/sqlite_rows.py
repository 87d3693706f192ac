"""Plain inserts on the raw sqlite3 connection: multi-row VALUES statements.

SQLAlchemy's executemany converts every parameter of every row in Python;
here only the columns whose type converts are touched, each with the
column's own bind processor, so the stored values are exactly SQLAlchemy's
(UTC timestamps, one per row, take a shortcut to the same text).

Many rows per statement rather than executemany: sqlite3 releases the GIL
around every step, and executemany steps once per row, so next to a busy
thread (the import reads the next batch meanwhile; a worker's request threads
parse and price the next requests) each row waited to get the GIL back. One
statement of ~2,000 rows is bound in C and stepped once. For the same reason
``insert_new`` returns nothing row by row (no RETURNING, one step per row
fetched): the keys already there are read as one JSON array first, and with
one writer at a time (BEGIN IMMEDIATE) nothing else can insert in between.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache, lru_cache
from itertools import chain
from operator import add, itemgetter, methodcaller
from typing import Any

import orjson
from sqlalchemy import Table, case, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from billing.dialect.rows import RowGroups
from billing.models.base import UTCDateTime

# Rows per statement at most; fewer when SQLite's bound-parameter limit says so.
# A power of two: see _chunks.
MAX_ROWS_PER_STATEMENT = 1024
# Below this many rows, a statement of its exact length (see _chunks).
TAIL_ROWS = 64


def insert_rows(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]], suffix: str = ""
) -> list[Any]:
    """Insert rows that all set the same columns (at least two), in the session's
    transaction; ``suffix`` ends each statement (``ON CONFLICT ... RETURNING ...``),
    whose returned rows are the result."""
    returned: list[Any] = []
    for cursor in _inserted(session, table, rows, suffix):
        if suffix:
            returned += cursor.fetchall()
    return returned


def insert_new(
    session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
) -> set[Any]:
    """``insert_rows`` of the rows whose ``key`` (text or integer) is free; the keys
    inserted. The caller's transaction holds the write lock (BEGIN IMMEDIATE)."""
    keys = {row[key] for row in rows}
    present = present_keys(session, table.name, key, keys)
    new = keys - present
    suffix = f" ON CONFLICT ({key}) DO NOTHING"
    written = sum(cursor.rowcount for cursor in _inserted(session, table, rows, suffix))
    if written != len(new):  # each new key once, the others refused by the index
        raise RuntimeError(
            f"{table.name}: {written} rows inserted for {len(new)} new keys (another writer?)"
        )
    return new


def present_keys(session: Session, table: str, column: str, keys: Collection[Any]) -> set[Any]:
    """Which of ``keys`` (text or integers) are values of the indexed ``column``: one
    statement, one row (a JSON array in and out; a row per key would be a step per key)."""
    driver: Any = session.connection().connection.driver_connection
    cursor = driver.execute(
        f"SELECT json_group_array({column}) FROM {table} "
        f"WHERE {column} IN (SELECT value FROM json_each(?))",
        (orjson.dumps(list(keys)).decode(),),
    )
    try:
        (found,) = cursor.fetchone()
    finally:
        cursor.close()
    return set(orjson.loads(found))


def _inserted(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]], suffix: str
) -> Iterator[Any]:
    """Execute ``insert_rows``'s statements; each one's cursor, in turn."""
    if not rows:
        return
    first = rows[0]
    processors = _bind_processors(table, session.get_bind().dialect)
    plain = [
        column.name for column in table.c if column.name in first and column.name not in processors
    ]
    converted = [(name, convert) for name in first if (convert := processors.get(name))]
    if len(plain) < 2:  # itemgetter of one name returns a bare value, not a tuple
        raise ValueError(f"{table.name}: bulk rows need at least two plain columns")
    # Column by column, in C but for the conversions: every row as long as the
    # first and holding all its keys has the same keys.
    try:
        values = list(map(itemgetter(*plain), rows))
        columns = [
            _converted(convert, list(map(itemgetter(name), rows))) for name, convert in converted
        ]
    except KeyError:
        values = []
    if not values or set(map(len, rows)) != {len(first)}:
        raise ValueError(f"{table.name}: rows must all set the same columns")
    if columns:
        values = list(map(add, values, zip(*columns, strict=True)))
    names = (*plain, *(name for name, _ in converted))
    yield from _statements(session, table, names, values, suffix)


def _statements(
    session: Session, table: Table, names: tuple[str, ...], values: list[Any], suffix: str
) -> Iterator[Any]:
    """Execute the multi-row INSERTs of ``values`` (tuples in ``names`` order, the
    stored values); each one's cursor, in turn."""
    driver: Any = session.connection().connection.driver_connection
    limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(names)
    for start, end in _chunks(len(values), limit):
        sql = _insert_sql(table.name, names, end - start) + suffix
        yield driver.execute(sql, list(chain.from_iterable(values[start:end])))


def insert_groups(session: Session, table: Table, groups: RowGroups) -> None:
    """The rows of ``groups`` (checked), as ``insert_rows`` writes them: each
    group's shared values converted once (an event's ledger rows share its
    timestamp), each row one tuple concatenation; no mapping per row to build
    and lay out (~20 ms less per 2,000 events' ledger rows, under the write lock)."""
    processors = _bind_processors(table, session.get_bind().dialect)
    own_names = [name for name in groups.own if name in processors]
    if own_names:  # per-row conversions: the mapping path converts them
        insert_rows(session, table, groups.rows())
        return
    shared = [shared for shared, own in groups.groups if own]
    for i, name in enumerate(groups.shared):
        convert = processors.get(name)
        if convert is not None:
            column = _converted(convert, list(map(itemgetter(i), shared)))
            shared = [
                (*values[:i], text, *values[i + 1 :])
                for values, text in zip(shared, column, strict=True)
            ]
    owns = [own for _, own in groups.groups if own]
    values = [row + common for common, own in zip(shared, owns, strict=True) for row in own]
    for _ in _statements(session, table, groups.columns, values, ""):
        pass


def add_amounts(
    session: Session,
    table: Table,
    key: str,
    amount: str,
    items: Sequence[tuple[Any, int]],
    extra: Mapping[str, Any],
) -> bool:
    """``amount = amount + delta`` for each (key, delta) of ``items``, ``extra``
    columns set: one UPDATE ... FROM a VALUES list per chunk, bound in C (an
    executemany through SQLAlchemy built and converted every row's parameters
    in Python). False, nothing done, when the key or amount column converts."""
    processors = _bind_processors(table, session.get_bind().dialect)
    if key in processors or amount in processors:
        return False
    names = list(extra)
    sets = "".join(f", {name} = ?" for name in names)
    tail = [
        (convert(value) if (convert := processors.get(name)) else value)
        for name, value in extra.items()
    ]
    driver: Any = session.connection().connection.driver_connection
    limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - len(tail)
    for start, end in _chunks(len(items), limit // 2):
        sql = _add_sql(table.name, key, amount, sets, end - start)
        driver.execute(sql, [*chain.from_iterable(items[start:end]), *tail])
    return True


def uniform(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> bool:
    """Can ``insert_rows`` take these rows (every row the same columns, two plain ones)?"""
    first = rows[0].keys()
    processors = _bind_processors(table, session.get_bind().dialect)
    plain = sum(1 for name in first if name not in processors)
    return plain >= 2 and all(map(first.__eq__, map(_KEYS, rows)))


def _chunks(count: int, limit: int) -> Iterator[tuple[int, int]]:
    """(start, end) of the statements writing ``count`` rows, at most ``limit`` each:
    full ones of the largest power of two allowed, then the rest in powers of two
    down to TAIL_ROWS, and what is left, fewer rows, in one (1,000 -> 512, 256,
    128, 64, 40). So a connection meets a few statement texts, each prepared once
    and then taken from sqlite3's statement cache: preparing a statement of
    1,000 rows of 17 values costs about twice the CPU of running it (~9 us a
    row), and a batch's last statement was a new length nearly every time. The
    short last one is still prepared each time (cheap), rather than split
    further: each statement is a wait for the GIL back next to busy threads."""
    size = 1 << (max(1, min(MAX_ROWS_PER_STATEMENT, limit)).bit_length() - 1)
    start = 0
    while start < count:
        while count - start < size and size > TAIL_ROWS:
            size >>= 1
        end = min(count, start + size)
        yield start, end
        start = end


@lru_cache(maxsize=256)  # a few lengths (_chunks) per table
def _insert_sql(table: str, names: tuple[str, ...], rows: int) -> str:
    one = f"({','.join('?' * len(names))})"
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES {','.join([one] * rows)}"


@lru_cache(maxsize=64)
def _add_sql(table: str, key: str, amount: str, sets: str, rows: int) -> str:
    return (
        f"WITH bulk_delta(k, d) AS (VALUES {','.join(['(?,?)'] * rows)}) "
        f"UPDATE {table} SET {amount} = {amount} + bulk_delta.d{sets} "
        f"FROM bulk_delta WHERE {table}.{key} = bulk_delta.k"
    )


def _converted(convert: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """``values`` converted. UTC timestamps are formatted once per distinct
    instant: a batch's rows share few (an event's ledger rows share one), and
    equal instants give equal text."""
    if convert is not utc_text:
        return list(map(convert, values))
    try:
        texts = {value: utc_text(value) for value in set(values)}
    except TypeError:  # unhashable: utc_text refuses it
        return list(map(convert, values))
    return list(map(texts.__getitem__, values))


_KEYS = methodcaller("keys")


@cache
def _bind_processors(table: Table, dialect: Dialect) -> dict[str, Callable[[Any], Any]]:
    """Per column name, its conversion of a Python value (only the columns that convert)."""
    found: dict[str, Callable[[Any], Any]] = {}
    for column in table.c:
        if isinstance(column.type, UTCDateTime):
            found[column.name] = utc_text
            continue
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            found[column.name] = process
    return found


def utc_text(value: datetime | None) -> str | None:
    """What UTCDateTime stores on SQLite ('2025-06-01 00:00:06.000000'), ~4x faster
    than the generic processor chain (TypeDecorator, then SQLite DATETIME)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


# Column types (as Python types) whose values travel through JSON unchanged.
_PACKABLE = frozenset({str, int, bool, datetime, bytes})

# Turns the one JSON text of a packed read into its rows (tuples of Python values).
Unpack = Callable[[str], list[tuple[Any, ...]]]


def packed(statement: Any, dialect: Dialect) -> tuple[Any, Unpack] | None:
    """``statement``'s rows as one row, a JSON array of arrays, and how to turn it
    back into the rows SQLAlchemy would give (each column's own result
    conversion): sqlite3 steps, and gives up the GIL, once per row fetched, and
    next to a busy thread each step waits to get it back (a read of ~1,000
    balances, ~1,000 waits). Blobs travel as hex; None when a column holds
    anything but text, integers, booleans, timestamps and blobs (JSON text would
    round a real)."""
    columns = list(statement.selected_columns)
    try:
        # A TypeDecorator's values are stored as its underlying type's.
        kinds = [
            getattr(column.type, "impl_instance", column.type).python_type for column in columns
        ]
    except NotImplementedError:  # a type that does not say
        return None
    if not set(kinds) <= _PACKABLE:
        return None
    blobs = [kind is bytes for kind in kinds]
    inner = statement.subquery()
    values = [
        case((value.is_(None), None), else_=func.hex(value)) if blob else value
        for value, blob in zip(inner.c, blobs, strict=True)
    ]
    outer = select(func.json_group_array(func.json_array(*values)))
    converters = []
    for column, blob in zip(columns, blobs, strict=True):
        convert = column.type.dialect_impl(dialect).result_processor(dialect, None)
        converters.append(_from_hex(convert) if blob else convert)

    def unpack(text: str) -> list[tuple[Any, ...]]:
        rows = orjson.loads(text)
        if not rows or not any(converters):
            return list(map(tuple, rows))
        # Column by column: each conversion mapped over its column, in C but for it.
        by_column = [
            list(map(convert, values)) if convert else values
            for convert, values in zip(converters, zip(*rows, strict=True), strict=True)
        ]
        return list(zip(*by_column, strict=True))

    return outer, unpack


def _from_hex(convert: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    def from_hex(value: str | None) -> Any:
        raw = None if value is None else bytes.fromhex(value)
        return convert(raw) if convert else raw

    return from_hex
