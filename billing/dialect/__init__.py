"""One writer per database: everything that depends on which database is behind a session.

The SQL that differs between PostgreSQL and SQLite (bulk inserts, insert-if-new,
relative updates, the undo of rows a transaction wrote, static hot-path reads,
date arithmetic, the import's load tuning) sits behind the ``Dialect``
protocol (base.py), implemented once per database (postgresql.py, sqlite.py).
The implementation is chosen once, from the engine (``for_engine``): the
runtime does so when it creates its engine and gives it to every session it
makes (``session_info``); ``of(session)`` gets it back. Repositories ask it for
what differs and never test the database's name themselves.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from billing.dialect.base import Dependent, Dialect, InList, StaticQuery
from billing.dialect.postgresql import PostgreSQL
from billing.dialect.sqlite import SQLite

__all__ = ["Dependent", "Dialect", "InList", "StaticQuery", "for_engine", "of", "session_info"]

_BY_NAME: dict[str, Dialect] = {"postgresql": PostgreSQL(), "sqlite": SQLite()}
_INFO_KEY = "billing.dialect"


def for_engine(bind: Engine | Connection) -> Dialect:
    """The writer of the engine's database (one instance per database kind)."""
    found = _BY_NAME.get(bind.dialect.name)
    if found is None:
        raise RuntimeError(f"unsupported database {bind.dialect.name!r}: use PostgreSQL or SQLite")
    return found


def session_info(dialect: Dialect) -> dict[str, Any]:
    """The ``info`` of sessions that should carry ``dialect`` (see ``of``)."""
    return {_INFO_KEY: dialect}


def of(session: Session) -> Dialect:
    """The session's writer: the one its factory was given, else its engine's (kept)."""
    found: Dialect | None = session.info.get(_INFO_KEY)
    if found is None:
        found = session.info[_INFO_KEY] = for_engine(session.get_bind())
    return found
