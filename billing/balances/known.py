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

from sqlalchemy.orm import Session

from billing.session_events import after_commit

_LIMIT = 500_000
_known: WeakKeyDictionary[Any, set[str]] = WeakKeyDictionary()
_EMPTY: frozenset[str] = frozenset()


def known(session: Session) -> set[str] | frozenset[str]:
    return _known.get(session.get_bind(), _EMPTY)


def remember(session: Session, user_ids: Iterable[str]) -> None:
    """Remember these users once this session's transaction commits."""
    ids, bind = set(user_ids), session.get_bind()
    if ids:
        after_commit(session, lambda: _add(bind, ids))


def forget(session: Session, user_ids: Iterable[str]) -> None:
    _known.get(session.get_bind(), set()).difference_update(user_ids)


def _add(bind: Any, ids: set[str]) -> None:
    memory = _known.setdefault(bind, set())
    if len(memory) + len(ids) > _LIMIT:
        memory.clear()
    memory.update(ids)
