"""Small builders for pricing tests: configs without YAML, tables without the file."""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType
from typing import Any

from billing.config.model import AppConfig, EndpointConfig, ModelRates, default_config
from billing.pricing.tables import DefaultTables, parse_tables


def rates(
    prompt: str, completion: str, cache_read: str | None = None, cache_write: str | None = None
) -> ModelRates:
    return ModelRates(
        prompt=Decimal(prompt),
        completion=Decimal(completion),
        context=200_000,
        cache_read=Decimal(cache_read) if cache_read is not None else None,
        cache_write=Decimal(cache_write) if cache_write is not None else None,
    )


def config_with(*custom: EndpointConfig) -> AppConfig:
    """The built-in endpoints plus ``custom`` ones."""
    endpoints = dict(default_config().endpoints)
    endpoints.update({endpoint.name: endpoint for endpoint in custom})
    return AppConfig(endpoints=MappingProxyType(endpoints))


def custom(name: str, token_config: dict[str, ModelRates], free: bool = False) -> EndpointConfig:
    return EndpointConfig(
        name=name,
        kind="custom",
        token_config=MappingProxyType(token_config),
        free_of_charge=free,
    )


def tables(token_values: dict[str, tuple[str, str]], **extra: Any) -> DefaultTables:
    """Tables from literal data; numbers as Decimal, like the JSON loader gives."""
    raw = {
        "default_rate": Decimal(6),
        "token_values": {
            key: {"prompt": Decimal(p), "completion": Decimal(c)}
            for key, (p, c) in token_values.items()
        },
        "cache_token_values": extra.get("cache_token_values", {}),
        "premium_token_values": extra.get("premium_token_values", {}),
    }
    return parse_tables(raw)
