"""The console's own read queries (users list, a user's conversations, the spend ranking).

Everything else the console shows comes from the services the API uses
(reports, balances, catalog).

Per-user spend over 30 days needs a pass over that window's ledger rows (the
rollups carry no user id): about half a second at a million rows. The console
computes it once per ``console_ranking_seconds`` per process (``SpendRanking``)
and serves pages from that snapshot, saying how old it is; a stale snapshot
is refreshed in the background while the old one is still served.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from billing.balances.repository import BalanceRow
from billing.models import Balance, LedgerEntry
from billing.reports.spend import spend_clause
from billing.thread_names import name_os_thread

log = logging.getLogger("billing.console")

RANKING_DAYS = 30
PAGE_SIZE = 50
SORTS = ("user", "spend", "balance")

_BALANCE_COLUMNS = (
    Balance.user_id,
    Balance.amount_micro,
    Balance.auto_refill_enabled,
    Balance.refill_interval_value,
    Balance.refill_interval_unit,
    Balance.refill_amount_micro,
    Balance.last_refill_at,
)


@dataclass(frozen=True, slots=True)
class Ranking:
    """Every user with a balance and their spend over the window, highest first."""

    computed_at: datetime
    order: list[tuple[int, str]]  # (-spend micro, user id): ascending is the page order
    spend: dict[str, int] = field(repr=False)


def compute_ranking(session: Session, now: datetime) -> Ranking:
    since = now - timedelta(days=RANKING_DAYS)
    spent = select(LedgerEntry.user_id, func.sum(LedgerEntry.amount_micro)).where(
        spend_clause(LedgerEntry), LedgerEntry.created_at >= since
    )
    spend = {
        user: -int(total or 0)
        for user, total in session.execute(spent.group_by(LedgerEntry.user_id))
    }
    for user_id in session.scalars(select(Balance.user_id)):
        spend.setdefault(user_id, 0)
    order = sorted((-micro, user) for user, micro in spend.items())
    return Ranking(now, order, spend)


class SpendRanking:
    """A process's ranking snapshot, refreshed when older than ``max_age_seconds``
    (0: computed for every request, for tests)."""

    def __init__(
        self, sessions: sessionmaker[Session], clock: Callable[[], datetime], max_age_seconds: int
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._max_age = timedelta(seconds=max_age_seconds)
        self._current: Ranking | None = None
        self._compute = threading.Lock()  # one computation at a time
        self._flag = threading.Lock()
        self._refreshing = False

    def get(self) -> Ranking:
        current = self._current
        if not self._max_age:
            return self._refresh(reuse=False)
        if current is None:  # the first one: wait for it (or for the warm-up in flight)
            return self._refresh(reuse=True)
        if self._clock() - current.computed_at > self._max_age:
            self._in_background()
        return current

    def warm(self) -> None:
        """Start the first computation now (the sign-in page calls this): by the
        time the operator has signed in, the first page need not wait for it."""
        if self._current is None and self._max_age:
            self._in_background()

    def _in_background(self) -> None:
        with self._flag:
            if self._refreshing:
                return
            self._refreshing = True
        stale = self._current
        threading.Thread(
            target=self._background, args=(stale,), name="console-ranking", daemon=True
        ).start()

    def _background(self, stale: Ranking | None) -> None:
        name_os_thread()
        try:
            self._replace(stale)
        except Exception:
            # The previous ranking stays in use; the next page view past its age retries.
            log.warning("console ranking refresh failed; keeping the previous one", exc_info=True)
        finally:
            with self._flag:
                self._refreshing = False

    def _refresh(self, *, reuse: bool) -> Ranking:
        with self._compute:
            if reuse and self._current is not None:
                return self._current
            return self._computed()

    def _replace(self, stale: Ranking | None) -> None:
        """A background refresh of ``stale``: nothing to do if another computation
        replaced it meanwhile (a first ``get`` that did not wait for the warm-up)."""
        with self._compute:
            if self._current is stale:
                self._computed()

    def _computed(self) -> Ranking:
        with self._sessions() as session:
            ranking = compute_ranking(session, self._clock())
        self._current = ranking
        return ranking


@dataclass(frozen=True, slots=True)
class UserPage:
    rows: list[BalanceRow]
    next_cursor: str | None


def _escape_like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_users(
    session: Session,
    ranking: Ranking,
    *,
    prefix: str,
    sort: str,
    cursor: str | None,
    limit: int = PAGE_SIZE,
) -> UserPage:
    """One page of users; ``cursor`` is the previous page's ``next_cursor``."""
    if sort == "spend":
        return _by_spend(session, ranking, prefix, cursor, limit)
    stmt = select(*_BALANCE_COLUMNS).limit(limit + 1)
    if prefix:
        stmt = stmt.where(Balance.user_id.like(_escape_like(prefix) + "%", escape="\\"))
    if sort == "balance":
        stmt = stmt.order_by(Balance.amount_micro.desc(), Balance.user_id)
        after = _balance_cursor(cursor)
        if after is not None:
            amount, user_id = after
            stmt = stmt.where(
                (Balance.amount_micro < amount)
                | ((Balance.amount_micro == amount) & (Balance.user_id > user_id))
            )
    else:
        stmt = stmt.order_by(Balance.user_id)
        if cursor:
            stmt = stmt.where(Balance.user_id > cursor)
    rows = [BalanceRow(*row) for row in session.execute(stmt)]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = f"{last.amount_micro}:{last.user_id}" if sort == "balance" else last.user_id
    return UserPage(rows, next_cursor)


def _balance_cursor(cursor: str | None) -> tuple[int, str] | None:
    if not cursor:
        return None
    amount, _, user_id = cursor.partition(":")
    try:
        return int(amount), user_id
    except ValueError:
        return None  # a hand-edited cursor starts from the top


def _by_spend(
    session: Session, ranking: Ranking, prefix: str, cursor: str | None, limit: int
) -> UserPage:
    order = ranking.order
    start = 0
    if cursor:
        amount, _, user_id = cursor.partition(":")
        try:
            start = bisect.bisect_right(order, (int(amount), user_id))
        except ValueError:
            start = 0
    picked: list[tuple[int, str]] = []
    index = start
    while index < len(order) and len(picked) <= limit:
        if order[index][1].startswith(prefix):
            picked.append(order[index])
        index += 1
    more = len(picked) > limit
    picked = picked[:limit]
    ids = [user for _, user in picked]
    found = (
        {
            row[0]: BalanceRow(*row)
            for row in session.execute(select(*_BALANCE_COLUMNS).where(Balance.user_id.in_(ids)))
        }
        if ids
        else {}
    )
    rows = [found[user] for user in ids if user in found]
    next_cursor = f"{picked[-1][0]}:{picked[-1][1]}" if more and picked else None
    return UserPage(rows, next_cursor)


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    conversation_id: str
    cost_micro: int
    lines: int
    first_at: datetime
    last_at: datetime


def user_conversations(
    session: Session, user_id: str, limit: int = 25
) -> list[ConversationSummary]:
    """The user's most recently active conversations with their spend (user_id index)."""
    last = func.max(LedgerEntry.created_at)
    stmt = (
        select(
            LedgerEntry.conversation_id,
            func.sum(LedgerEntry.amount_micro),
            func.count(),
            func.min(LedgerEntry.created_at),
            last,
        )
        .where(
            LedgerEntry.user_id == user_id,
            LedgerEntry.conversation_id.is_not(None),
            spend_clause(LedgerEntry),
        )
        .group_by(LedgerEntry.conversation_id)
        .order_by(last.desc(), LedgerEntry.conversation_id)
        .limit(limit)
    )
    return [
        ConversationSummary(str(conv), -int(total or 0), int(count), _aware(first), _aware(latest))
        for conv, total, count, first, latest in session.execute(stmt)
    ]


def _aware(value: object) -> datetime:
    # Aggregates bypass the column type on SQLite: parse its stored text.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
