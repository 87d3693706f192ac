"""The built-in price tables (LibreChat's defaults), loaded once as Decimals.

Key order in ``token_values`` is meaningful (ties between equal-length
substring matches go to the key defined last), so the mappings keep the file's
order. Numbers are parsed straight into ``Decimal``; floats never appear.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from types import MappingProxyType
from typing import Any

_PACKAGE = "billing.pricing"
_RESOURCE = "data/default_rates.json"


# eq=False: identity equality and hashing, so a tables object can key the
# matcher caches (its mappings are not hashable).
@dataclass(frozen=True, slots=True, eq=False)
class DefaultTables:
    token_values: Mapping[str, tuple[Decimal, Decimal]]  # key -> (prompt, completion)
    cache_token_values: Mapping[str, tuple[Decimal, Decimal]]  # key -> (write, read)
    premium_token_values: Mapping[str, tuple[int, Decimal, Decimal]]  # (threshold, p, c)
    default_rate: Decimal


def _decimal(value: Any, where: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise ValueError(f"default_rates.json: {where} must be a non-negative number")
    return value


def _threshold(value: Any, where: str) -> int:
    dec = _decimal(value, where)
    if dec != dec.to_integral_value():
        raise ValueError(f"default_rates.json: {where} must be an integer")
    return int(dec)


def parse_tables(raw: Mapping[str, Any]) -> DefaultTables:
    """Build tables from a document already parsed with Decimal numbers."""
    token_values = {
        key: (
            _decimal(entry["prompt"], f"token_values.{key}.prompt"),
            _decimal(entry["completion"], f"token_values.{key}.completion"),
        )
        for key, entry in raw["token_values"].items()
    }
    cache_token_values = {
        key: (
            _decimal(entry["write"], f"cache_token_values.{key}.write"),
            _decimal(entry["read"], f"cache_token_values.{key}.read"),
        )
        for key, entry in raw["cache_token_values"].items()
    }
    premium_token_values = {
        key: (
            _threshold(entry["threshold"], f"premium_token_values.{key}.threshold"),
            _decimal(entry["prompt"], f"premium_token_values.{key}.prompt"),
            _decimal(entry["completion"], f"premium_token_values.{key}.completion"),
        )
        for key, entry in raw["premium_token_values"].items()
    }
    return DefaultTables(
        token_values=MappingProxyType(token_values),
        cache_token_values=MappingProxyType(cache_token_values),
        premium_token_values=MappingProxyType(premium_token_values),
        default_rate=_decimal(raw["default_rate"], "default_rate"),
    )


@functools.cache
def load_default_tables() -> DefaultTables:
    """The shipped tables (package data), parsed once per process."""
    with resources.files(_PACKAGE).joinpath(_RESOURCE).open("r", encoding="utf-8") as fh:
        raw = json.load(fh, parse_float=Decimal, parse_int=Decimal)
    return parse_tables(raw)
