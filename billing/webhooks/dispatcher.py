"""Deliver the outbox: claim due deliveries, send them signed, record each attempt.

Every `billing serve` worker runs one Dispatcher thread. Claims are short
transactions (``repository.claim_due``: FOR UPDATE SKIP LOCKED on PostgreSQL,
the single writer on SQLite) that lease the deliveries, so the HTTP requests
run outside any transaction and no two dispatchers, in any process or host,
send the same delivery at once. A dispatcher that dies mid-send leaves its
deliveries to be claimed again when the lease ends: at least once.

Failed attempts are retried after an exponential delay with jitter (first
retry within BILLING_WEBHOOK_RETRY_BASE_SECONDS, delays capped at
BILLING_WEBHOOK_RETRY_MAX_DELAY_SECONDS) until BILLING_WEBHOOK_GIVE_UP_AFTER_SECONDS
after the event; every retry carries the same webhook-id.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine
from standardwebhooks.webhooks import Webhook

from billing import __version__
from billing.clock import utc_now
from billing.db import READ_ONLY, make_session_factory
from billing.settings import Settings
from billing.thread_names import name_os_thread
from billing.webhooks import metrics, wakeup
from billing.webhooks import repository as repo
from billing.webhooks.urls import RefusedUrl, check_destination

log = logging.getLogger("billing.webhooks")

BATCH = 16  # deliveries claimed (and sent concurrently) at once
MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class Attempt:
    delivered: bool
    status_code: int | None = None
    error: str | None = None


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Seconds before retrying after the ``attempts``-th failure: base, 2x, 4x, ...
    up to ``cap``, each between half and all of it (jitter: receivers that came back
    up are not hit by every sender at the same instant)."""
    delay = min(cap, base * 2 ** min(attempts - 1, 60))
    return delay * random.uniform(0.5, 1.0)


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        clock: Callable[[], datetime] = utc_now,
        *,
        batch: int = BATCH,
    ) -> None:
        self._sessions = make_session_factory(engine)
        self._reads = make_session_factory(engine.execution_options(**{READ_ONLY: True}))
        self._settings = settings
        self._clock = clock
        self._batch = batch
        timeout = settings.webhook_timeout_seconds
        # A claim outlives every send of its batch (they run side by side, each
        # cut off at the timeout); a dispatcher killed mid-send leaves it this long.
        self._lease = timedelta(seconds=2 * timeout + 5)
        # trust_env=False: no proxy from the environment, so the address checked is
        # the address called.
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
            headers={"user-agent": f"billing-webhooks/{__version__}"},
        )
        self._senders = ThreadPoolExecutor(
            max_workers=batch, thread_name_prefix="webhook-send", initializer=name_os_thread
        )
        self._wake = threading.Event()
        wakeup.subscribe(self._wake)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_due: datetime | None = None

    # --- one round ------------------------------------------------------------------------

    def run_once(self) -> int:
        """Send the deliveries due now (up to one batch); how many were attempted."""
        now = self._clock()
        with self._reads() as session:
            backlog = repo.backlog(session)
        metrics.record_backlog(backlog.pending, backlog.oldest_created_at, now)
        self._next_due = backlog.next_due_at
        if backlog.next_due_at is None or backlog.next_due_at > now:
            return 0
        with self._sessions.begin() as session:
            claimed = repo.claim_due(session, now, now + self._lease, self._batch)
        attempts = list(self._senders.map(self._send, claimed))
        self._record(claimed, attempts)
        return len(claimed)

    def _send(self, claimed: repo.Claimed) -> Attempt:
        try:
            check_destination(
                claimed.url,
                allow_private=self._settings.webhook_allow_private_networks,
                resolve_failure_ok=False,
            )
        except RefusedUrl as exc:
            return Attempt(False, error=f"refused: {exc}"[:MAX_ERROR])
        sent_at = datetime.now(UTC)  # real time: receivers check it against their clocks
        signature = Webhook(claimed.secret).sign(claimed.message_id, sent_at, claimed.body)
        headers = {
            "content-type": "application/json",
            "webhook-id": claimed.message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature,
        }
        try:
            # Streamed and closed unread: the receiver's answer body does not matter.
            with self._client.stream(
                "POST", claimed.url, content=claimed.body.encode(), headers=headers
            ) as response:
                code = response.status_code
        except httpx.TimeoutException:
            return Attempt(
                False, error=f"timed out after {self._settings.webhook_timeout_seconds}s"
            )
        except httpx.HTTPError as exc:
            return Attempt(False, error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR])
        if 200 <= code < 300:
            return Attempt(True, status_code=code)
        if 300 <= code < 400:
            return Attempt(False, code, f"HTTP {code}: redirects are not followed")
        return Attempt(False, code, f"HTTP {code}")

    def _record(self, claimed: list[repo.Claimed], attempts: list[Attempt]) -> None:
        now = self._clock()
        settings = self._settings
        outcomes = []
        with self._sessions.begin() as session:
            for item, attempt in zip(claimed, attempts, strict=True):
                retry_at = None
                if not attempt.delivered:
                    delay = retry_delay(
                        item.attempts,
                        settings.webhook_retry_base_seconds,
                        settings.webhook_retry_max_delay_seconds,
                    )
                    retry_at = now + timedelta(seconds=delay)
                    if retry_at > item.give_up_at:
                        retry_at = None
                kept = repo.record_attempt(
                    session,
                    item,
                    delivered=attempt.delivered,
                    status_code=attempt.status_code,
                    error=attempt.error,
                    now=now,
                    retry_at=retry_at,
                )
                if not kept:
                    continue
                if attempt.delivered:
                    outcome = "delivered"
                elif retry_at is not None:
                    outcome = "retry"
                else:
                    outcome = "failed"
                    log.warning(
                        "webhook delivery %s (%s) given up after %d attempts: %s",
                        item.id,
                        item.message_id,
                        item.attempts,
                        attempt.error,
                    )
                outcomes.append((item.event_type, outcome))
        for event_type, outcome in outcomes:  # committed
            metrics.record_attempt(event_type, outcome)

    # --- the background thread -------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="webhook-dispatcher", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        name_os_thread()
        poll = self._settings.webhook_poll_seconds
        while not self._stop.is_set():
            try:
                if self.run_once():
                    continue  # more may be due
            except Exception:  # the database may be away for a while: keep trying
                if self._stop.is_set():
                    break  # close() cut a send short
                log.exception("webhook dispatcher round failed; retrying in %ss", poll)
            wait = poll
            if self._next_due is not None:
                wait = min(poll, max(0.0, (self._next_due - self._clock()).total_seconds()))
            self._wake.wait(wait)
            self._wake.clear()

    def close(self) -> None:
        """Stop the thread; a send in flight is cut short and retried after its lease."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=2)  # a round in progress may finish
        self._client.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._senders.shutdown(wait=False, cancel_futures=True)
