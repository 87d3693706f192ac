"""Rows for the set-based writers: checked and laid out once, whatever the database.

Rows are mappings of column name -> value; columns a row lacks are NULL
(or ``RowGroups``: rows in groups, for the writers that encode shared values once).
Datetimes must be timezone-aware (the UTCDateTime rule of the models). The
writers (postgresql.py, sqlite.py) send the value tuples ``layout`` returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import DateTime, Table


def layout(
    table: Table, rows: Sequence[Mapping[str, Any]], extra: str | None = None
) -> tuple[list[str], list[Any]]:
    """The columns the rows set (table order) and the rows as value tuples in that
    order; a column some rows lack is NULL there. Datetimes must be aware. The
    field ``extra``, not a column, is allowed and left out."""
    first = rows[0]
    columns = [column.name for column in table.c if column.name in first]
    values: list[Any] | None = None
    # (Rows with an ``extra`` field take the general case: a row as long as the
    # first, with another field instead, would pass the pick unchecked.)
    if len(columns) == len(first) > 1 and set(map(len, rows)) == {len(columns)}:
        # The usual case, every row with the first row's keys: pick the values
        # in C, ~3x cheaper per row than a comprehension (micro-benchmark). A
        # row as long with other keys fails the pick: then the general case.
        try:
            values = list(map(itemgetter(*columns), rows))
            _checked_columns(table, set(columns))
        except KeyError:
            values = None
    if values is None:
        present: set[str] = set()
        for row in rows:
            present.update(row)
        if extra is not None and extra not in table.c:
            present.discard(extra)
        columns = _checked_columns(table, present)
        values = [[row.get(name) for name in columns] for row in rows]
    for i, name in enumerate(columns):
        if name in _datetime_columns(table):
            _require_aware(map(itemgetter(i), values))
    return columns, values


def checked_columns(
    table: Table, rows: Sequence[Mapping[str, Any]], extra: str | None = None
) -> list[str]:
    """``layout``'s columns, with the same checks, without the value tuples: for
    writers that send the rows as they are (one JSON document). Rows that all
    have the first row's keys (the usual case) are checked against the table
    once per key set; the others take ``layout``."""
    first = rows[0]
    keys = first.keys()
    if not all(row.keys() == keys for row in rows):
        return layout(table, rows, extra)[0]
    columns, stamps = _columns_for(table, tuple(keys), extra)
    for name in stamps:
        _require_aware(row[name] for row in rows)
    return list(columns)


@lru_cache(maxsize=256)
def _columns_for(
    table: Table, keys: tuple[str, ...], extra: str | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The checked columns of rows with these keys (table order), and which of
    them hold datetimes (checked aware per row)."""
    present = set(keys)
    if extra is not None and extra not in table.c:
        present.discard(extra)
    columns = _checked_columns(table, present)
    stamps = _datetime_columns(table)
    return tuple(columns), tuple(name for name in columns if name in stamps)


def _checked_columns(table: Table, present: set[str]) -> list[str]:
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


@cache
def _datetime_columns(table: Table) -> frozenset[str]:
    def is_datetime(kind: Any) -> bool:
        return isinstance(kind, DateTime) or isinstance(getattr(kind, "impl", None), DateTime)

    return frozenset(c.name for c in table.c if is_datetime(c.type))


def _require_aware(stamps: Iterable[Any]) -> None:
    values = [stamp for stamp in stamps if stamp is not None]
    if None in set(map(_TZINFO, values)):
        raise ValueError("naive datetime given to a UTC column")


_TZINFO = attrgetter("tzinfo")


def aware(value: Any) -> Any:
    """``value``, refused if it is a naive datetime (for values sent as raw parameters)."""
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value


@dataclass(frozen=True, slots=True)
class RowGroups:
    """Rows given in groups: a group is ``(shared values, own values of each row)``,
    and its rows set the columns ``shared`` to the group's values and ``own``
    to their own (a column in neither is NULL). For rows that share most
    values, e.g. an event's ledger rows: the rows come from one tuple
    concatenation each (in C), with no mapping per row to build and lay out.
    """

    shared: tuple[str, ...]
    own: tuple[str, ...]
    groups: Sequence[tuple[tuple[Any, ...], Sequence[tuple[Any, ...]]]]

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns of ``values`` (own, then shared)."""
        return (*self.own, *self.shared)

    def __len__(self) -> int:
        return sum([len(own) for _, own in self.groups])

    def values(self) -> list[tuple[Any, ...]]:
        """Each row's values in ``columns`` order."""
        return [values + shared for shared, own in self.groups for values in own]

    def rows(self) -> list[dict[str, Any]]:
        """The rows as mappings."""
        columns = self.columns
        return [dict(zip(columns, values, strict=True)) for values in self.values()]

    def check(self, table: Table) -> None:
        """Raise ValueError unless the rows suit ``table`` (as ``layout`` checks them)."""
        columns = self.columns
        _checked_columns(table, set(columns))
        for i, name in enumerate(self.shared):
            if name in _datetime_columns(table):
                _require_aware(map(itemgetter(i), (shared for shared, _ in self.groups)))
        for i, name in enumerate(self.own):
            if name in _datetime_columns(table):
                _require_aware(values[i] for _, own in self.groups for values in own)
