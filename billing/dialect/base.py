"""The interface every database's writer implements, and the static reads it runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Table
from sqlalchemy.orm import Session

from billing.dialect.rows import RowGroups

# ``in_list(column, name)``: ``column`` is one of the values of the list parameter ``name``.
InList = Callable[[Any, str], ColumnElement[bool]]


class StaticQuery:
    """A read of the hot path whose SQL never changes, written once for every database.

    ``build(in_list)`` returns the statement, using ``in_list(column, name)``
    for each list parameter; each dialect builds (and compiles) it once, with
    its own form of the list: ``= ANY(:name)`` on PostgreSQL (one array
    parameter, so one SQL text for any length), an expanding IN on SQLite.
    """

    __slots__ = ("build",)

    def __init__(self, build: Callable[[InList], Any]) -> None:
        self.build = build


@dataclass(frozen=True, slots=True)
class Dependent:
    """Rows ``insert_new_with`` inserts only with the rows they go with: a row goes
    in when the key in its field ``key`` was inserted (a field that is not a
    column of ``table`` only decides, it is not stored). With ``sum_by``, the
    rows kept that agree on those columns go in as one row of their sums."""

    table: Table
    rows: Sequence[Mapping[str, Any]]
    key: str
    sum_by: tuple[str, ...] = ()

    def kept(self, inserted: set[Any]) -> list[Mapping[str, Any]]:
        """The rows that go in when the keys ``inserted`` were inserted."""
        rows = [row for row in self.rows if row[self.key] in inserted]
        stored = self.key in self.table.c
        if not self.sum_by:
            return rows if stored else [_without(row, self.key) for row in rows]
        sums: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            group = tuple(row[name] for name in self.sum_by)
            total = sums.get(group)
            if total is None:
                sums[group] = _without(row, self.key)
                continue
            for name, value in row.items():
                if name != self.key and name not in self.sum_by:
                    total[name] += value
        return [sums[group] for group in sorted(sums)]


_DRIVER_KEY = "billing.dialect.driver"


def driver_connection(session: Session) -> Any:
    """The DBAPI (driver) connection under the session's current transaction.

    Looked up once per transaction: ``session.connection()`` walks the session's
    transaction state (~25 us a call), and the hot path's writers use the driver
    several times a transaction. The cached pair keeps its transaction alive, so
    an identity check against the current one cannot be fooled by a reused id;
    a SAVEPOINT shares its root's connection (``get_transaction`` is the root).
    """
    transaction = session.get_transaction()
    cached = session.info.get(_DRIVER_KEY)
    if transaction is not None and cached is not None and cached[0] is transaction:
        return cached[1]
    driver = session.connection().connection.driver_connection
    session.info[_DRIVER_KEY] = (session.get_transaction(), driver)
    return driver


def _without(row: Mapping[str, Any], name: str) -> dict[str, Any]:
    return {field: value for field, value in row.items() if field != name}


class Dialect(Protocol):
    """What differs between the databases, once per database (postgresql.py, sqlite.py).

    Writers run in the session's current transaction and never commit. Rows
    are mappings of column name -> value (billing/dialect/rows.py).
    """

    name: str  # SQLAlchemy's name of the database: "postgresql" or "sqlite"
    # One write transaction at a time (SQLite's BEGIN IMMEDIATE): nothing another
    # transaction writes can appear while one runs, so there are no races to undo.
    single_writer: bool
    # Execution options of a transaction whose reads must all see one snapshot.
    snapshot_options: Mapping[str, Any]

    # -- reads ---------------------------------------------------------------
    def any_of(self, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
        """``column IN (values)`` in this database's cheapest form for the count."""
        ...

    def fetch(
        self, session: Session, query: StaticQuery, params: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        """The rows of a static read, as plain tuples (datetimes aware)."""
        ...

    def epoch_seconds(self, when: Any) -> ColumnElement[int]:
        """Whole seconds since 1970-01-01 UTC of a UTC datetime column."""
        ...

    def starts_with(self, column: Any, prefix: str) -> ColumnElement[bool]:
        """``column`` begins with ``prefix`` (compared bytewise), answerable by its index."""
        ...

    # -- writes --------------------------------------------------------------
    def insert_rows(
        self, session: Session, table: Table, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Plain insert of many rows, one statement (or COPY) per batch."""
        ...

    def insert_groups(self, session: Session, table: Table, groups: RowGroups) -> None:
        """``insert_rows`` of the rows of ``groups``, each shared value encoded once
        where the database's bulk path can."""
        ...

    def load_rows(self, session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Plain insert of a large load whose rows all set the same columns (the import)."""
        ...

    def insert_new(
        self, session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
    ) -> set[Any]:
        """Insert the rows whose unique ``key`` is not taken (ON CONFLICT DO NOTHING), in
        ``key`` order; the keys inserted. A key another open transaction has inserted
        waits for it to end: then it is taken (it committed) or free (rolled back)."""
        ...

    def insert_unseen(
        self, session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
    ) -> set[Any]:
        """``insert_new`` (the same answer) of rows whose keys this transaction has just
        read as free: where one writer runs at a time they still are, and a plain
        insert does (no lookup of the keys again)."""
        ...

    def insert_new_with(
        self,
        session: Session,
        table: Table,
        key: str,
        rows: Sequence[Mapping[str, Any]],
        dependents: Sequence[Dependent],
    ) -> set[Any]:
        """``insert_new``, then the ``dependents`` of the rows inserted (in that order;
        one statement where the database can)."""
        ...

    def insert_once(
        self, session: Session, table: Table, key: str | tuple[str, ...], row: Mapping[str, Any]
    ) -> bool:
        """Insert one row unless its unique ``key`` (a column, or the columns of a
        unique constraint) is taken; whether it was inserted."""
        ...

    def insert_missing(
        self, session: Session, table: Table, keys: Sequence[str], rows: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Any, ...]]:
        """Insert the rows whose unique ``keys`` are free (one statement); the keys inserted."""
        ...

    def update_rows(
        self, session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Per row, set its other columns where ``key`` equals its ``key`` (one
        statement; every row sets the same columns)."""
        ...

    def add_amounts(
        self,
        session: Session,
        table: Table,
        key: str,
        amount: str,
        deltas: Mapping[Any, int],
        extra: Mapping[str, Any],
    ) -> None:
        """``amount = amount + delta`` per key (and ``extra`` columns set), in key order."""
        ...

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
        """The rows of ``lock`` (a static read of ``table`` that locks its rows, in key
        order; its first column is ``table``'s unique ``key``) as they were before, and
        ``amount = amount + delta`` for the keys of ``deltas`` among them (``extra``
        columns set): ``fetch`` then ``add_amounts``, one statement where the database
        can. Keys of ``deltas`` the read did not find are left alone."""
        ...

    def delete_written_here(self, session: Session, table: Table, *where: Any) -> int:
        """Delete the rows matching ``where`` that this transaction wrote (rows of other
        transactions stay); the number deleted. Single-writer databases raise."""
        ...

    def present_keys(self, session: Session, column: Any, keys: Sequence[Any]) -> set[Any]:
        """Which of ``keys`` are values of the (indexed) ``column``."""
        ...

    def bulk_load(self, session: Session) -> AbstractContextManager[None]:
        """Around a long load into this session's transaction: the database's tuning for it."""
        ...


class ConflictInserts:
    """Insert-if-free through ``INSERT ... ON CONFLICT DO NOTHING RETURNING``, which
    both databases take; each writer names its dialect's insert construct. Also
    the plain two-statement ``lock_and_add``."""

    insert_statement: Callable[[Table], Any]

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
        writer: Any = self
        rows: Sequence[Sequence[Any]] = writer.fetch(session, lock, params)
        found = {row[0] for row in rows}
        kept = {k: d for k, d in deltas.items() if k in found}
        writer.add_amounts(session, table, key, amount, kept, extra)
        return rows

    def insert_new_with(
        self,
        session: Session,
        table: Table,
        key: str,
        rows: Sequence[Mapping[str, Any]],
        dependents: Sequence[Dependent],
    ) -> set[Any]:
        """One statement after the other (the writer's own ``insert_new`` and
        ``insert_rows``)."""
        writer: Any = self
        inserted: set[Any] = writer.insert_new(session, table, key, rows)
        for dependent in dependents:
            writer.insert_rows(session, dependent.table, dependent.kept(inserted))
        return inserted

    def insert_unseen(
        self, session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
    ) -> set[Any]:
        """``insert_new``: another transaction may have taken a key since it was read.
        (A COPY straight in, falling back to ``insert_new`` when one was taken, was
        slower under make bench's traffic: repeated ids of batches still in flight
        on another worker made most batches fall back; benchmarks/RESULTS.md.)"""
        writer: Any = self
        inserted: set[Any] = writer.insert_new(session, table, key, rows)
        return inserted

    def insert_groups(self, session: Session, table: Table, groups: RowGroups) -> None:
        """The rows as mappings, through the writer's ``insert_rows``."""
        writer: Any = self
        writer.insert_rows(session, table, groups.rows())

    def insert_once(
        self, session: Session, table: Table, key: str | tuple[str, ...], row: Mapping[str, Any]
    ) -> bool:
        keys = [key] if isinstance(key, str) else list(key)
        stmt = (
            self.insert_statement(table)
            .values(**row)
            .on_conflict_do_nothing(index_elements=keys)
            .returning(table.c[keys[0]])
        )
        return session.execute(stmt).first() is not None

    def insert_missing(
        self, session: Session, table: Table, keys: Sequence[str], rows: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Any, ...]]:
        stmt = (
            self.insert_statement(table)
            .values(list(rows))
            .on_conflict_do_nothing(index_elements=list(keys))
            .returning(*(table.c[k] for k in keys))
        )
        return [tuple(row) for row in session.execute(stmt)]
