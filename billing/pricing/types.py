"""Value types of the pricing engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Literal

import orjson

from billing import money
from billing.frozen import fast_constructor

TOKEN_TYPES: tuple[str, ...] = ("prompt", "completion", "cache_write", "cache_read")
# Anthropic's 1-hour cache writes: their own cost line and ledger token type,
# priced at their own rate; reports count them as cache writes.
CACHE_WRITE_1H = "cache_write_1h"
LINE_TYPES: tuple[str, ...] = (*TOKEN_TYPES, CACHE_WRITE_1H)
PricedBy = Literal["token_config", "default", "premium", "fallback", "free"]


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """Disjoint token counts of one model call."""

    prompt: int = 0
    completion: int = 0
    cache_write: int = 0  # 5-minute cache writes (or writes of unstated TTL)
    cache_read: int = 0
    cache_write_1h: int = 0  # 1-hour cache writes, disjoint from cache_write

    @property
    def input_tokens(self) -> int:
        return self.prompt + self.cache_write + self.cache_read + self.cache_write_1h

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt": self.prompt,
            "completion": self.completion,
            "cache_write": self.cache_write,
            "cache_read": self.cache_read,
            "cache_write_1h": self.cache_write_1h,
        }


@dataclass(frozen=True, slots=True)
class Rates:
    """Credits per token for each token type."""

    prompt: Decimal
    completion: Decimal
    cache_write: Decimal
    cache_read: Decimal
    cache_write_1h: Decimal


@dataclass(frozen=True, slots=True)
class CostLine:
    token_type: str
    tokens: int
    rate: Decimal
    micro: int  # micro-credits, rounded once (see billing.money)

    @property
    def credits(self) -> Decimal:
        return money.credits_from_micro(self.micro)


@dataclass(frozen=True, slots=True)
class Cost:
    endpoint: str
    model: str
    value_key: str | None
    priced_by: PricedBy
    context: str
    # The four TOKEN_TYPES in order, then a cache_write_1h line only when the
    # event has 1-hour cache writes (so other events keep the four-line shape).
    lines: tuple[CostLine, ...]
    # The sum of the lines, computed once: read several times per event on the ingest path.
    total_micro: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # A list, not a generator: ~2x cheaper for a handful of lines.
        object.__setattr__(self, "total_micro", sum([line.micro for line in self.lines]))

    def line(self, token_type: str) -> CostLine:
        for candidate in self.lines:
            if candidate.token_type == token_type:
                return candidate
        raise KeyError(token_type)

    def to_json(self) -> dict[str, object]:
        """The cost object of docs/api.md (money as decimal strings)."""
        total = self.total_micro
        credits = money.credits_str
        return {
            "endpoint": self.endpoint,
            "model": self.model,
            "value_key": self.value_key,
            "priced_by": self.priced_by,
            "context": self.context,
            "lines": {  # the cache_write_1h line only when the event has one (see lines)
                line.token_type: {
                    "tokens": line.tokens,
                    "rate": money.rate_str(line.rate),
                    "credits": credits(line.micro) if line.micro else "0",  # many lines are 0
                }
                for line in self.lines
            },
            "total_credits": money.credits_str(total),
            "total_usd": money.usd_str(total),
        }

    def json_text(self) -> str:
        """``to_json`` as compact JSON text, byte for byte what orjson makes of it,
        built as text (the stored cost_json, once per event on the ingest path:
        ~20% cheaper than the dict and its encoding; each line's constant parts
        come from _line_parts)."""
        credits = money.credits_str
        texts = []
        for line in self.lines:
            head, middle, zero = _line_parts(line.token_type, line.rate)
            micro = line.micro
            if micro:
                texts.append(f'{head}{line.tokens}{middle}{credits(micro)}"}}')
            elif line.tokens:
                texts.append(f'{head}{line.tokens}{middle}0"}}')
            else:
                texts.append(zero)
        total = self.total_micro
        head = _json_head(self.endpoint, self.model, self.value_key, self.priced_by, self.context)
        return (
            f'{head}{",".join(texts)}}},"total_credits":"{credits(total)}",'
            f'"total_usd":"{money.usd_str(total)}"}}'
        )


# The pricing hot path builds a Cost and up to five lines per event: ~3x cheaper
# than through the frozen __init__ (billing/frozen.py). priced_cost takes the
# total too (the sum of the lines' micro, which the engine has at hand).
cost_line: Callable[[str, int, Decimal, int], CostLine] = fast_constructor(CostLine)
priced_cost: Callable[[str, str, str | None, PricedBy, str, tuple[CostLine, ...], int], Cost] = (
    fast_constructor(Cost)
)
token_counts: Callable[[int, int, int, int, int], TokenCounts] = fast_constructor(TokenCounts)


@lru_cache(maxsize=4096)  # rates come from the configuration: few
def _line_parts(token_type: str, rate: Decimal) -> tuple[str, str, str]:
    """A cost line's JSON text around its tokens and credits, and the whole text of
    its zero line."""
    head = f'"{token_type}":{{"tokens":'
    middle = f',"rate":"{money.rate_str(rate)}","credits":"'
    return head, middle, f'{head}0{middle}0"}}'


@lru_cache(maxsize=4096)  # model names come from clients: bounded
def _json_head(
    endpoint: str, model: str, value_key: str | None, priced_by: str, context: str
) -> str:
    """The cost object's text up to its lines' members (the strings escaped by orjson)."""
    fields = {
        "endpoint": endpoint,
        "model": model,
        "value_key": value_key,
        "priced_by": priced_by,
        "context": context,
    }
    return orjson.dumps(fields).decode()[:-1] + ',"lines":{'
