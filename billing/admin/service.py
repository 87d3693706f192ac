"""Config reload: swap in the new snapshot, or keep the old one and say why."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from billing import metrics
from billing.actors import SIGNAL
from billing.audit import service as audit
from billing.audit.types import CONFIG_RELOAD
from billing.clock import utc_now
from billing.config.errors import ConfigError
from billing.db import make_engine, make_session_factory
from billing.errors import InvalidRequest
from billing.group_commit import run_transaction
from billing.pricebooks.service import record_current
from billing.runtime import ConfigSnapshot, Runtime


def reload_config(runtime: Runtime, *, actor: str) -> ConfigSnapshot:
    """Re-read the config file; a bad file raises InvalidRequest listing every problem
    (and is not audited: nothing changed). A reload is recorded as done by ``actor``."""
    previous = runtime.snapshot.version
    try:
        snapshot = runtime.reload()
    except ConfigError as exc:
        metrics.record_config_reload(ok=False)
        count = len(exc.problems)
        raise InvalidRequest(
            f"config not reloaded, the old config stays: {count} problem(s): {exc.problems[0]}",
            problems=exc.problems,
        ) from None
    metrics.record_config_reload(ok=True, loaded_at=snapshot.loaded_at.timestamp())
    metrics.record_config_version(snapshot.version, previous)
    record = _reload_entry(snapshot.config.source, snapshot.version, previous, actor)

    def remember(session: Session) -> None:  # the price book and the audit entry, together
        record_current(session, snapshot.prices, snapshot.loaded_at)
        record(session, runtime.clock())

    run_transaction(runtime.sessions, remember)
    return snapshot


def record_rollout(database_url: str, source: str | None, version: str, previous: str) -> None:
    """Audit a SIGHUP rollout of `billing serve --workers N` (the supervisor holds no
    runtime: one short-lived connection)."""
    engine = make_engine(database_url, pool_size=1)
    try:
        record = _reload_entry(source, version, previous, SIGNAL)
        run_transaction(make_session_factory(engine), lambda session: record(session, utc_now()))
    finally:
        engine.dispose()


def _reload_entry(
    source: str | None, version: str, previous: str, actor: str
) -> Callable[[Session, datetime], None]:
    def record(session: Session, now: datetime) -> None:
        audit.record(
            session,
            action=CONFIG_RELOAD,
            target=f"config:{source or 'built-in defaults'}",
            reason=None,
            key_id=actor,
            details={"version": version, "previous_version": previous},
            now=now,
        )

    return record


def record_price_book(runtime: Runtime, snapshot: ConfigSnapshot) -> None:
    """A config load whose prices differ from the last recorded ones is a new version."""
    run_transaction(
        runtime.sessions,
        lambda session: record_current(session, snapshot.prices, snapshot.loaded_at),
    )
