"""What happens around the transactions of the runtime's sessions.

``install`` attaches the listeners to one sessionmaker (the runtime's), never
to SQLAlchemy's global ``Session`` class: importing a module changes nothing,
and a session made elsewhere (a test's, another engine's) is left alone.

Two things ride on them: work deferred until the root transaction commits
(``after_commit``; dropped on rollback), such as metric increments and the
memory of users known to exist; and the duration of each root transaction,
begin to commit or rollback, handed to the ``observe`` given to ``install``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

_DEFERRED = "billing.session_events.deferred"
_STARTED = "billing.session_events.started"
_COMMITTED = "billing.session_events.committed"

# (seconds from begin to end, committed?) of one root transaction.
ObserveTransaction = Callable[[float, bool], None]


def install(sessions: sessionmaker[Session], observe: ObserveTransaction) -> None:
    def ended(session: Session, transaction: SessionTransaction) -> None:
        committed = session.info.pop(_COMMITTED, False)
        if transaction.parent is not None:
            return  # a SAVEPOINT or inner transaction: only the root decides
        deferred: list[Callable[[], None]] = session.info.pop(_DEFERRED, [])
        started = session.info.pop(_STARTED, None)
        if started is not None:
            observe(time.perf_counter() - started, committed)
        if committed:
            for callback in deferred:
                callback()

    event.listen(sessions, "after_begin", _began)
    event.listen(sessions, "after_commit", _committed)
    event.listen(sessions, "after_transaction_end", ended)


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's root transaction commits; never on rollback."""
    session.info.setdefault(_DEFERRED, []).append(callback)


def _began(session: Session, _transaction: Any, _connection: Any) -> None:
    session.info.setdefault(_STARTED, time.perf_counter())


def _committed(session: Session) -> None:
    # Also fires when a SAVEPOINT is released; ``ended`` reads it for the root only.
    session.info[_COMMITTED] = True
