"""Service settings: environment variables with the ``BILLING_`` prefix."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from functools import cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SCOPES = ("ingest", "read", "gateway", "admin")
_PLACEHOLDER_KEYS = {"changeme", "change-me", "secret", "password", "xxx", "your-api-key"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_", extra="ignore")

    config: Path | None = Field(default=None, description="librechat.yaml-style config file")
    database_url: str = "sqlite:///./billing.db"
    host: str = "127.0.0.1"
    port: int = 8000
    # 0: one worker per CPU core (at most 8) on PostgreSQL, one on SQLite (a single
    # writer: more processes would only queue on the file lock). See default_workers.
    workers: int = Field(default=0, ge=0, le=64)
    # API keys: JSON object {"key": ["ingest", "read"]} or "key:scope,scope;key2:admin".
    api_keys: str = ""
    api_keys_file: Path | None = None
    max_batch_events: int = Field(default=1000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Concurrent ingest requests of one worker share a transaction up to this many events.
    group_commit_max_events: int = Field(default=2000, ge=1, le=100_000)
    # Group transactions one worker may have in flight at once.
    group_commit_threads: int = Field(default=1, ge=1, le=16)
    # How long a group may wait for more requests to join it (0: it goes at once).
    group_commit_linger_seconds: float = Field(default=0.005, ge=0, le=1)
    reservation_ttl_seconds: int = Field(default=1800, ge=10)
    db_pool_size: int = Field(default=10, ge=1)
    log_level: str = "INFO"
    # Custom endpoints with models.fetch: GET {baseURL}/models, cached per endpoint.
    models_fetch_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    models_cache_ttl_seconds: int = Field(default=600, ge=0)
    # Slow or silent clients (billing/connections.py, billing/api/body_timeout.py).
    idle_timeout_seconds: float = Field(default=5.0, gt=0, le=3600)
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    max_connections_per_worker: int = Field(default=1000, ge=1, le=1_000_000)
    # Webhooks (billing/webhooks/). balance.low fires when a balance falls below this
    # many credits (unset: never); re-armed when it rises to it or above again.
    webhook_balance_low_credits: Decimal | None = Field(default=None, ge=0, le=10**12)
    # Private, loopback and link-local webhook URLs are refused unless this is true.
    webhook_allow_private_networks: bool = False
    webhook_dispatcher: bool = True  # false: this process only writes the outbox
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # Retries: exponential from the base (with jitter) up to the max delay, until give-up.
    webhook_retry_base_seconds: float = Field(default=5.0, gt=0, le=3600)
    webhook_retry_max_delay_seconds: float = Field(default=3600.0, gt=0, le=86400)
    webhook_give_up_after_seconds: float = Field(default=86400.0, gt=0, le=30 * 86400)
    webhook_poll_seconds: float = Field(default=2.0, gt=0, le=3600)
    # Operator console (billing/console): the key its session cookies are signed with.
    # Unset: derived from the API keys (every worker and restart agrees; rotating the
    # keys ends every session), or, with no key, random per `billing serve` start.
    console_secret: str = ""
    console_session_minutes: int = Field(default=480, ge=1, le=7 * 24 * 60)
    # How old the per-user spend ranking (users sorted by spend, top users) may get.
    console_ranking_seconds: int = Field(default=60, ge=0, le=3600)
    # The metering gateway (billing/gateway): upstream timeouts, and the completion
    # tokens held for a request that sets no max_tokens.
    gateway_connect_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    gateway_timeout_seconds: float = Field(default=600.0, gt=0, le=3600)
    gateway_default_max_tokens: int = Field(default=1024, ge=0, le=10_000_000)
    # How long a gateway call's usage record may wait for others to share its
    # transaction (it is written after the answer has gone out; its hold keeps
    # the credit meanwhile). 0: each record commits as soon as it can.
    gateway_record_linger_seconds: float = Field(default=0.02, ge=0, le=1)
    # Gateway credit leases (billing/gateway/leases.py): each worker sets aside
    # credit for this many calls' estimates of a user at once and holds their calls
    # against it in memory (0: one database hold per call); a lease takes at most
    # 1/share of what the user has free, and goes back after this long unused. A
    # lease expires after ttl (renewed at half of it while used): what a killed
    # worker's leases keep from the user at most.
    gateway_lease_calls: int = Field(default=16, ge=0, le=10_000)
    gateway_lease_share: int = Field(default=4, ge=1, le=1000)
    gateway_lease_idle_seconds: float = Field(default=30.0, gt=0, le=3600)
    gateway_lease_ttl_seconds: int = Field(default=300, ge=10, le=86_400)

    @field_validator("config", mode="before")
    @classmethod
    def _empty_means_no_config(cls, value: object) -> object:
        # `BILLING_CONFIG=` (e.g. `make run BILLING_CONFIG=`) asks for the built-in defaults.
        return None if value == "" else value

    @field_validator("database_url")
    @classmethod
    def _normalise_postgres_driver(cls, value: str) -> str:
        # Plain postgresql:// URLs would pick psycopg2, which we do not ship.
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def parsed_api_keys(self) -> dict[str, frozenset[str]]:
        """All configured keys with their scopes; admin implies every scope.

        ValueError names the variable (or file) at fault, never a key.
        """
        keys: dict[str, frozenset[str]] = {}
        sources = [("BILLING_API_KEYS", self.api_keys)]
        if self.api_keys_file is not None:
            where = f"BILLING_API_KEYS_FILE ({self.api_keys_file})"
            try:
                sources.append((where, self.api_keys_file.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(
                    f"{where}: cannot read: {getattr(exc, 'strerror', None) or exc}"
                ) from None
        for where, text in sources:
            try:
                keys.update(_parse_keys(text))
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        return keys


def _parse_keys(text: str) -> dict[str, frozenset[str]]:
    text = text.strip()
    if not text:
        return {}
    raw: dict[str, list[str]]
    if text.startswith("{"):
        document = json.loads(text)  # a JSONDecodeError is a ValueError
        if not isinstance(document, dict) or not all(
            isinstance(v, list) and all(isinstance(s, str) for s in v) for v in document.values()
        ):
            raise ValueError('the JSON form is {"key": ["scope", ...]}')
        raw = {str(k): list(v) for k, v in document.items()}
    else:
        raw = {}
        for entry in text.replace("\n", ";").split(";"):
            entry = entry.strip()
            if not entry or entry.startswith("#"):
                continue
            key, _, scope_text = entry.partition(":")
            scope_list = [s.strip() for s in (scope_text or "admin").split(",")]
            raw[key.strip()] = [s for s in scope_list if s]
    result: dict[str, frozenset[str]] = {}
    for key, scopes in raw.items():
        if len(key) < 16 or key.lower() in _PLACEHOLDER_KEYS:
            raise ValueError("API keys must be at least 16 characters and not a placeholder")
        unknown = set(scopes) - set(SCOPES)
        if unknown:
            raise ValueError(f"unknown API key scope(s): {', '.join(sorted(unknown))}")
        granted = set(scopes)
        if "admin" in granted:
            granted.update(SCOPES)
        result[key] = frozenset(granted)
    return result


@cache
def get_settings() -> Settings:
    return Settings()


def default_workers(database_url: str) -> int:
    """``billing serve`` workers when neither --workers nor BILLING_WORKERS says."""
    if database_url.startswith("sqlite"):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 8))
