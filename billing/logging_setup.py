"""Structured JSON logs: one object per line, a request id on each, secrets masked.

The request id lives in a context variable set by ``HttpFront`` (see
billing/api/front.py); sync routes run in a thread pool that copies the
context, so their log lines carry it too. Secrets (API keys, ``apiKey`` and
header values of the config) are registered here and replaced by ``[redacted]``
in every formatted line, whatever logger wrote it.
"""

from __future__ import annotations

import json
import logging
import logging.config
import threading
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from billing.config.model import AppConfig

request_id_var: ContextVar[str | None] = ContextVar("billing_request_id", default=None)

REDACTED = "[redacted]"
# Shorter values ("none", "user_provided") are not secrets and would mask common words.
_MIN_SECRET_LENGTH = 6


class _SecretRegistry:
    """Values never to be written to a log; only ever grows (old configs' keys stay masked)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()

    def add(self, values: Iterable[str | None]) -> None:
        kept = {v for v in values if isinstance(v, str) and len(v) >= _MIN_SECRET_LENGTH}
        with self._lock:
            self._values |= kept
            # Longest first, so a secret containing another is masked whole.
            self._ordered = tuple(sorted(self._values, key=len, reverse=True))

    def mask(self, text: str) -> str:
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


secrets = _SecretRegistry()


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "request_id", ...}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = json.dumps(entry, ensure_ascii=False, default=str)
        return secrets.mask(line)


def log_config(level: str = "INFO") -> dict[str, Any]:
    """dictConfig for the app and uvicorn (passed to ``uvicorn.run(log_config=...)``)."""
    level = level.upper()
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": handler},
        "loggers": {
            "billing": {"handlers": ["json"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["json"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            # Off in serve (access_log=False): billing.http logs each request with its id.
            "uvicorn.access": {"handlers": ["json"], "level": level, "propagate": False},
        },
        "root": {"handlers": ["json"], "level": "WARNING"},
    }


def configure_logging(level: str = "INFO") -> None:
    logging.config.dictConfig(log_config(level))


def config_secrets(config: AppConfig) -> list[str]:
    """Every endpoint's ``apiKey`` and header value, and secret-looking extra keys."""
    found: list[str] = []

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                if str(k).lower() == "headers" and isinstance(v, Mapping):
                    found.extend(str(h) for h in v.values())
                walk(v, str(k))
        elif isinstance(node, list | tuple):
            for item in node:
                walk(item, key)
        elif isinstance(node, str) and key.lower() in _SECRET_KEYS:
            found.append(node)

    for endpoint in config.endpoints.values():
        # An unresolved value is the file's own text, e.g. ${KEY}: not a secret.
        if isinstance(endpoint.api_key, str) and endpoint.api_key:
            found.append(endpoint.api_key)
        found.extend(v for v in endpoint.headers.values() if isinstance(v, str))
        walk(endpoint.extra)
    return found


_SECRET_KEYS = {"apikey", "api_key", "password", "token", "secret", "authorization"}
