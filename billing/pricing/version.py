"""A price book's identity: the effective rates it prices with, and their hash.

Only what prices an event counts (each endpoint's ``freeOfCharge`` and
``tokenConfig``, and the built-in tables), so a config change that moves no
price (a new base URL, a comment) keeps the version, and the same rates always
hash the same. usage_event.price_book holds the hash; billing/pricebooks keeps
the versions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from billing.config.model import AppConfig
from billing.pricing.tables import DefaultTables

HASH_LENGTH = 16


def effective_rates(config: AppConfig, tables: DefaultTables) -> dict[str, Any]:
    """The rates as plain JSON (decimals as exact strings), one spelling per price book."""
    endpoints = {
        name: {
            "free_of_charge": endpoint.free_of_charge,
            "token_config": {
                model: {
                    "prompt": _text(rates.prompt),
                    "completion": _text(rates.completion),
                    "cache_write": _text(rates.cache_write),
                    "cache_read": _text(rates.cache_read),
                    "cache_write_1h": _text(rates.cache_write_1h),
                }
                for model, rates in sorted(endpoint.token_config.items())
            },
        }
        for name, endpoint in sorted(config.endpoints.items())
    }
    return {
        "endpoints": endpoints,
        "defaults": {
            "default_rate": _text(tables.default_rate),
            "token_values": _texts(tables.token_values),
            "cache_token_values": _texts(tables.cache_token_values),
            "premium_token_values": _texts(tables.premium_token_values),
        },
    }


def canonical_json(rates: Mapping[str, Any]) -> str:
    return json.dumps(rates, sort_keys=True, separators=(",", ":"))


def rates_hash(canonical: str) -> str:
    """First 16 hex digits of the SHA-256 of the rates' canonical JSON."""
    return hashlib.sha256(canonical.encode()).hexdigest()[:HASH_LENGTH]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value.normalize())


def _texts(table: Mapping[str, tuple[Any, ...]]) -> dict[str, list[str | None]]:
    return {
        key: [_text(item) if isinstance(item, Decimal) else str(item) for item in values]
        for key, values in sorted(table.items())
    }
