"""Process-local memory of users whose balance row exists: one query less per request.

Balance rows are never deleted, so once a committed transaction has seen a
user's row, the ingest path can go straight to locking it instead of first
asking which users exist (an insert attempt for them would do nothing anyway).
Ids are remembered only when the transaction that saw them commits, per engine
(so per database), and the memory is bounded. ``forget`` covers rows removed
behind the service's back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.orm import Session

_LIMIT = 500_000
_PENDING = "billing.balances.known_pending"
_known: WeakKeyDictionary[Any, set[str]] = WeakKeyDictionary()
_EMPTY: frozenset[str] = frozenset()


def known(session: Session) -> set[str] | frozenset[str]:
    return _known.get(session.get_bind(), _EMPTY)


def remember(session: Session, user_ids: Iterable[str]) -> None:
    """Remember these users once this session's transaction commits."""
    session.info.setdefault(_PENDING, set()).update(user_ids)


def forget(session: Session, user_ids: Iterable[str]) -> None:
    _known.get(session.get_bind(), set()).difference_update(user_ids)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    ids = session.info.pop(_PENDING, None)
    if ids:
        memory = _known.setdefault(session.get_bind(), set())
        if len(memory) + len(ids) > _LIMIT:
            memory.clear()
        memory.update(ids)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)
