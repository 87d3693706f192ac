"""Process-wide state: settings, database, and the current config snapshot.

The config and its price book are replaced together as one immutable
snapshot, so a reload never lets a request see half of each.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from billing import metrics, session_events
from billing.clock import utc_now
from billing.config.loader import load_config_file, parse_config
from billing.config.model import AppConfig, default_config
from billing.config.version import config_version
from billing.db import READ_ONLY, make_engine, make_session_factory
from billing.dialect import Dialect, for_engine
from billing.group_commit import GroupCommitter
from billing.logging_setup import config_secrets, secrets
from billing.pricing.engine import PriceBook
from billing.settings import Settings

log = logging.getLogger("billing.runtime")


@dataclass(frozen=True, slots=True)
class ConfigSnapshot:
    config: AppConfig
    prices: PriceBook
    loaded_at: datetime
    version: str  # config_version(config): names the config in headers and metrics


def load_config(settings: Settings, text: str | None = None) -> AppConfig:
    """The configured file (or ``text`` read from it earlier), else the built-in defaults."""
    if settings.config is None:
        return default_config()
    if text is not None:
        return parse_config(text, source=str(settings.config))
    return load_config_file(settings.config)


def load_snapshot(settings: Settings, text: str | None = None) -> ConfigSnapshot:
    """``text``: the config file's content as `billing serve` pinned it for its workers."""
    config = load_config(settings, text)
    secrets.add(config_secrets(config))  # before anything can log a value of this config
    for warning in config.warnings:
        log.warning("config: %s", warning)
    return ConfigSnapshot(
        config=config,
        prices=PriceBook(config),
        loaded_at=datetime.now(UTC),
        version=config_version(config),
    )


class Runtime:
    def __init__(self, settings: Settings, snapshot: ConfigSnapshot | None = None) -> None:
        self.settings = settings
        self.snapshot = snapshot or load_snapshot(settings)
        self.engine: Engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
        # The database's writer (billing/dialect), chosen once; every session carries it.
        self.dialect: Dialect = for_engine(self.engine)
        self.sessions: sessionmaker[Session] = make_session_factory(self.engine, self.dialect)
        # For transactions that only read: on SQLite they do not take the write lock.
        self.read_sessions: sessionmaker[Session] = make_session_factory(
            self.engine.execution_options(**{READ_ONLY: True}), self.dialect
        )
        # Deferred-until-commit work and transaction timing, for these sessions only.
        for sessions in (self.sessions, self.read_sessions):
            session_events.install(sessions, metrics.observe_transaction)
        self.api_keys = settings.parsed_api_keys()
        secrets.add([*self.api_keys, make_url(settings.database_url).password])
        self._reload_lock = threading.Lock()
        # Replaceable in tests to move time (refills, reservation expiry).
        self.clock: Callable[[], datetime] = utc_now
        # Ingest requests of this process share transactions (billing/group_commit.py),
        # and so do pre-flight checks, on their own thread: a check never queues behind a batch.
        self.group_commit = GroupCommitter(
            self.sessions,
            lambda: self.clock(),
            max_items=settings.group_commit_max_events,
            threads=settings.group_commit_threads,
            linger_seconds=settings.group_commit_linger_seconds,
            observe_items=metrics.group_commit_observer("ingest"),
            name="ingest",
        )
        self.group_read = GroupCommitter(
            self.read_sessions,
            lambda: self.clock(),
            max_items=500,
            observe_items=metrics.group_commit_observer("check"),
            name="check",
        )
        # The gateway's usage records, which no answer waits for: they linger so that
        # the calls of a few milliseconds share one transaction (billing/group_commit.py).
        self.group_record = GroupCommitter(
            self.sessions,
            lambda: self.clock(),
            max_items=settings.group_commit_max_events,
            linger_seconds=settings.gateway_record_linger_seconds,
            observe_items=metrics.group_commit_observer("gateway_record"),
            name="record",
        )
        # The gateway's holds too, on their own thread (a hold, which the upstream call
        # waits for, never queues behind a batch of usage) and their own connections,
        # whose commits do not wait for the log flush (billing/gateway/metering.py).
        self.hold_engine = self.engine
        if self.dialect.name == "postgresql":  # SQLite commits alike (billing/db.py)
            self.hold_engine = make_engine(
                settings.database_url, pool_size=1, unflushed_commits=True
            )
        self.hold_sessions = make_session_factory(self.hold_engine, self.dialect)
        session_events.install(self.hold_sessions, metrics.observe_transaction)
        self.group_hold = GroupCommitter(
            self.hold_sessions,
            lambda: self.clock(),
            max_items=100,
            observe_items=metrics.group_commit_observer("gateway_hold"),
            name="hold",
        )

    def reload(self) -> ConfigSnapshot:
        """Re-read the config file; on error the old snapshot stays and the error propagates."""
        with self._reload_lock:
            snapshot = load_snapshot(self.settings)
            self.snapshot = snapshot
            return snapshot

    def close(self) -> None:
        self.group_commit.close()
        self.group_read.close()
        self.group_record.close()
        self.group_hold.close()
        self.engine.dispose()
        self.hold_engine.dispose()
