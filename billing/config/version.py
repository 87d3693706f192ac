"""A short, stable name for an effective config: the same prices give the same name.

The hash is over the parsed config (after ``${VAR}`` substitution, defaults
filled in), not the file's bytes: a comment or a reordered key changes nothing
that prices an event, and two processes that parsed the same file agree. It
names the config in the ``X-Billing-Config-Version`` header and in
``billing_config_info``, so workers serving different configs are visible.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Set
from decimal import Decimal
from typing import Any

from billing.config.model import AppConfig

VERSION_LENGTH = 12
# Not part of what prices an event: where the text came from and what looked odd in it.
_NOT_HASHED = frozenset({"warnings", "source"})


def config_version(config: AppConfig) -> str:
    """First 12 hex digits of the SHA-256 of the config's canonical JSON form."""
    canonical = json.dumps(_plain(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:VERSION_LENGTH]


def _plain(value: Any) -> Any:
    """JSON-able with one spelling per value: mappings keyed by str, sets sorted."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _plain(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if field.name not in _NOT_HASHED
        }
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Set):
        return sorted((_plain(item) for item in value), key=repr)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Decimal):
        return str(value.normalize()) if value.is_finite() else str(value)
    return value
