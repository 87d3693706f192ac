"""The SQLite writer: Core executemany (its driver runs it in C), one writer at a time.

Every write transaction starts with BEGIN IMMEDIATE (billing/db.py), so
transactions that write never overlap: nothing can be inserted by another
transaction while one runs, and row locks (FOR UPDATE, which SQLite's
compiler leaves out) are not needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    Table,
    and_,
    bindparam,
    cast,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from billing.dialect import sqlite_rows
from billing.dialect.base import ConflictInserts, StaticQuery
from billing.dialect.rows import RowGroups, layout
from billing.dialect.sqlite_rows import Unpack as _Unpack

# Key types that travel as JSON unchanged (insert_new reads the keys present as JSON).
_JSON_KEYS = (str, int)

# Page cache while loading (the import): bounded (memory stays flat), but large
# enough to hold the hot pages of the ledger's indexes.
LOAD_CACHE_KIB = 64 * 1024


class SQLite(ConflictInserts):
    name = "sqlite"
    single_writer = True
    # A SQLite transaction reads one snapshot already (WAL).
    snapshot_options: Mapping[str, Any] = {}

    insert_statement = staticmethod(sqlite_insert)

    def __init__(self) -> None:
        # Per static read: its statement (as one JSON row, when its columns can
        # travel so), the names of its list parameters, the columns' conversions.
        self._built: dict[StaticQuery, tuple[Any, frozenset[str], _Unpack | None]] = {}

    def any_of(self, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
        result: ColumnElement[bool] = column.in_(list(values))
        return result

    def fetch(
        self, session: Session, query: StaticQuery, params: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        built = self._built.get(query)
        if built is None:
            found: set[str] = set()
            statement = query.build(lambda column, name: _in_json_list(column, name, found))
            packed = sqlite_rows.packed(statement, session.get_bind().dialect)
            unpacking: _Unpack | None = None
            if packed is not None:  # its rows as one JSON row
                statement, unpacking = packed
            built = self._built[query] = (statement, frozenset(found), unpacking)
        statement, lists, unpack = built
        bound = {
            name: orjson.dumps(list(value)).decode() if name in lists else value
            for name, value in params.items()
        }
        result = session.connection().execute(statement, bound)
        if unpack is None:
            return list(result)
        return unpack(result.scalar_one())

    def epoch_seconds(self, when: Any) -> ColumnElement[int]:
        return cast(func.strftime("%s", when), BigInteger)

    def starts_with(self, column: Any, prefix: str) -> ColumnElement[bool]:
        # A range: SQLite compares text bytewise (BINARY), and its LIKE ignores
        # case and so cannot use the index.
        after = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return and_(column >= prefix, column < after)

    def insert_rows(
        self, session: Session, table: Table, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        if not rows:
            return
        columns, values = layout(table, rows)  # checks them
        if sqlite_rows.uniform(session, table, rows):
            # Multi-row VALUES on the driver: SQLAlchemy's executemany converted
            # every parameter in Python (~4x the CPU of a 1,000-event batch).
            sqlite_rows.insert_rows(session, table, rows)
            return
        session.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in values])

    def insert_groups(self, session: Session, table: Table, groups: RowGroups) -> None:
        if not len(groups):
            return
        groups.check(table)
        sqlite_rows.insert_groups(session, table, groups)

    def load_rows(self, session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        sqlite_rows.insert_rows(session, table, rows)

    def insert_new(
        self, session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
    ) -> set[Any]:
        if not rows:
            return set()
        layout(table, rows)  # checks them
        if sqlite_rows.uniform(session, table, rows) and all(
            type(row[key]) in _JSON_KEYS for row in rows
        ):
            return sqlite_rows.insert_new(session, table, key, rows)
        stmt = (
            sqlite_insert(table)
            .on_conflict_do_nothing(index_elements=[key])
            .returning(table.c[key])
        )
        return set(session.scalars(stmt, list(rows)))

    def insert_unseen(
        self, session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
    ) -> set[Any]:
        """A plain insert: the caller's transaction has held the one write lock since it
        read the keys as free, so they still are (a taken one would fail the insert on
        the unique index, and the transaction with it)."""
        self.insert_rows(session, table, rows)
        return {row[key] for row in rows}

    def update_rows(
        self, session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        if not rows:
            return
        # Bind names differ from the column names: SQLAlchemy reserves those for SET.
        columns = [name for name in rows[0] if name != key]
        stmt = (
            update(table)
            .where(table.c[key] == bindparam(f"k_{key}"))
            .values({name: bindparam(f"v_{name}") for name in columns})
        )
        params = [
            {f"k_{key}": row[key], **{f"v_{name}": row[name] for name in columns}} for row in rows
        ]
        session.execute(stmt, params)

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
        if sqlite_rows.add_amounts(session, table, key, amount, items, extra):
            return
        stmt = (
            update(table)
            .where(table.c[key] == bindparam("bulk_key"))
            .values({amount: table.c[amount] + bindparam("bulk_delta"), **extra})
        )
        keyed = [{"bulk_key": k, "bulk_delta": d} for k, d in items]
        session.execute(stmt, keyed, execution_options={"synchronize_session": False})

    def delete_written_here(self, session: Session, table: Table, *where: Any) -> int:
        # One writer at a time: no other transaction can have written these rows
        # meanwhile, so a caller asking has lost track of what it wrote.
        raise RuntimeError("a concurrent write on a single-writer database (SQLite)")

    def present_keys(self, session: Session, column: Any, keys: Sequence[Any]) -> set[Any]:
        # One row holding a JSON array: sqlite3 gives up the GIL for every row
        # fetched, and the reading thread then keeps it for a while each time.
        return sqlite_rows.present_keys(session, column.table.name, column.name, keys)

    @contextmanager
    def bulk_load(self, session: Session) -> Iterator[None]:
        """A larger page cache, then the previous size again. The user and
        conversation indexes take inserts all over; with SQLite's default 2 MiB
        cache most inserts re-read a page and spill another to the WAL."""
        driver = _driver(session)
        (previous,) = driver.execute("PRAGMA cache_size").fetchone()
        driver.execute(f"PRAGMA cache_size = -{LOAD_CACHE_KIB}")
        try:
            yield
        finally:
            driver.execute(f"PRAGMA cache_size = {int(previous)}")


def _driver(session: Session) -> Any:
    """The sqlite3 connection under the session's current transaction."""
    return session.connection().connection.driver_connection


def _in_json_list(column: Any, name: str, lists: set[str]) -> ColumnElement[bool]:
    """``column IN (SELECT value FROM json_each(:name))``, the list sent as one JSON
    array (of strings or integers): one SQL text for any length. An expanding IN
    rendered and bound a parameter per value in Python on every call."""
    lists.add(name)
    values: Any = select(literal_column("value")).select_from(
        func.json_each(bindparam(name, type_=String()))
    )
    result: ColumnElement[bool] = column.in_(values.scalar_subquery())
    return result
