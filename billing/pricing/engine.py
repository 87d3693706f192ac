"""The price book: (endpoint, model, token counts) -> exact Cost.

Rules are docs/design.md "Pricing", in this order: unknown endpoint is an
error; a ``freeOfCharge`` endpoint costs nothing; an exact (case-sensitive)
``tokenConfig`` key on the endpoint; the built-in tables via the matched key
(premium tier above its input threshold); else the default rate ("fallback").

1-hour cache writes (Anthropic) have their own rate: a tokenConfig entry's
``cacheWrite1h`` when given, else ``ONE_HOUR_WRITE_FACTOR`` x the prompt rate
that applies (standard, premium or fallback), Anthropic's published price
(5-minute writes are 1.25x, which is what ``cacheWrite`` holds).

Resolution is cached per (endpoint, model); pricing an event is then integer
arithmetic. A line whose rate is a whole number of micro-credits per token is
``tokens * micro_rate`` exactly, which is what ``money.line_micro`` returns for
it (nothing to round); other rates go through ``money.line_micro``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal

from billing import money
from billing.config.model import AppConfig, EndpointConfig
from billing.errors import InvalidRequest, UnknownEndpoint
from billing.pricing.matching import Matcher, matcher_for
from billing.pricing.tables import DefaultTables, load_default_tables
from billing.pricing.types import (
    LINE_TYPES,
    Cost,
    CostLine,
    PricedBy,
    Rates,
    TokenCounts,
    cost_line,
    priced_cost,
)
from billing.pricing.version import canonical_json, effective_rates, rates_hash

CANCEL_RATE = Decimal("1.15")  # LibreChat's multiplier for an "incomplete" completion
# Anthropic bills a 1-hour cache write at 2x the base input rate (a 5-minute one at 1.25x).
ONE_HOUR_WRITE_FACTOR = Decimal(2)
INCOMPLETE = "incomplete"
_EXACT = Context(prec=60)
_MICRO = Decimal(money.MICRO_PER_CREDIT)
_ZERO = Decimal(0)
# Model names come from clients; bound the resolution cache.
_CACHE_LIMIT = 65_536


def _micro_rate(rate: Decimal) -> int | None:
    """Micro-credits per token when that is a whole number, else None."""
    scaled = _EXACT.multiply(rate, _MICRO)
    return int(scaled) if scaled == scaled.to_integral_value() else None


@dataclass(frozen=True, slots=True)
class _Tier:
    """One set of rates, with what pricing needs precomputed."""

    rates: Rates
    micro: tuple[int | None, ...]  # LINE_TYPES order
    cancel_rate: Decimal  # completion rate x 1.15, recorded on incomplete lines
    zero: tuple[CostLine, ...]  # shared zero-token lines: most events leave some types at 0

    @classmethod
    def of(
        cls,
        prompt: Decimal,
        completion: Decimal,
        write: Decimal,
        read: Decimal,
        write_1h: Decimal | None = None,
    ) -> _Tier:
        if write_1h is None:
            write_1h = _EXACT.multiply(prompt, ONE_HOUR_WRITE_FACTOR)
        rates = (prompt, completion, write, read, write_1h)
        micro = tuple(_micro_rate(rate) for rate in rates)
        zero = tuple(CostLine(t, 0, rate, 0) for t, rate in zip(LINE_TYPES, rates, strict=True))
        return cls(Rates(*rates), micro, _EXACT.multiply(completion, CANCEL_RATE), zero)

    def lines(
        self, prompt: int, completion: int, write: int, read: int, write_1h: int, context: str
    ) -> tuple[tuple[CostLine, ...], int]:
        """The cost lines of these counts and their total (micro)."""
        if context == INCOMPLETE:
            credits = _EXACT.multiply(Decimal(completion), self.cancel_rate)
            micro = money.floor_credits_micro(credits)
            completion_line = cost_line("completion", completion, self.cancel_rate, micro)
        else:
            completion_line = self._line(1, completion)
        lines: tuple[CostLine, ...] = (
            self._line(0, prompt),
            completion_line,
            self._line(2, write),
            self._line(3, read),
        )
        if write_1h:
            lines = (*lines, self._line(4, write_1h))
        return lines, sum([line.micro for line in lines])

    def _line(self, index: int, tokens: int) -> CostLine:
        line = self.zero[index]
        if tokens == 0:
            return line
        micro_rate = self.micro[index]
        if micro_rate is not None:
            return cost_line(line.token_type, tokens, line.rate, tokens * micro_rate)
        return cost_line(line.token_type, tokens, line.rate, money.line_micro(tokens, line.rate))


@dataclass(frozen=True, slots=True)
class _Resolution:
    value_key: str | None
    priced_by: PricedBy  # of the standard tier
    standard: _Tier
    premium: _Tier | None = None
    threshold: int = 0  # premium applies when input tokens are strictly above

    def tier(self, input_tokens: int) -> tuple[_Tier, PricedBy]:
        if self.premium is not None and input_tokens > self.threshold:
            return self.premium, "premium"
        return self.standard, self.priced_by


_FREE = _Tier.of(_ZERO, _ZERO, _ZERO, _ZERO)


def _check_tokens(tokens: TokenCounts) -> None:
    for name in LINE_TYPES:
        value = getattr(tokens, name)
        if type(value) is not int or value < 0:
            raise InvalidRequest(
                f"tokens.{name} must be a non-negative integer", field=f"tokens.{name}"
            )


class PriceBook:
    """Prices events for one configuration; immutable apart from its caches."""

    def __init__(self, config: AppConfig, tables: DefaultTables | None = None) -> None:
        self.config = config
        self.tables = tables if tables is not None else load_default_tables()
        self._matcher: Matcher = matcher_for(self.tables)
        self._cache: dict[tuple[str, str], _Resolution] = {}
        # The effective rates and their hash: the price book version (pricing/version.py).
        self.rates_json = canonical_json(effective_rates(config, self.tables))
        self.version = rates_hash(self.rates_json)

    def price(
        self, endpoint: str, model: str, tokens: TokenCounts, context: str = "message"
    ) -> Cost:
        return self.price_counts(
            endpoint,
            model,
            tokens.prompt,
            tokens.completion,
            tokens.cache_write,
            tokens.cache_read,
            tokens.cache_write_1h,
            context,
        )

    def price_counts(
        self,
        endpoint: str,
        model: str,
        prompt: int,
        completion: int,
        write: int,
        read: int,
        write_1h: int,
        context: str = "message",
    ) -> Cost:
        """``price`` of the counts given one by one (the ingest path's, no TokenCounts)."""
        p, c, w, r, h = prompt, completion, write, read, write_1h
        # One cheap guard on the hot path; the slow check names the bad field.
        if not (
            type(p) is type(c) is type(w) is type(r) is type(h) is int and min(p, c, w, r, h) >= 0
        ):
            _check_tokens(TokenCounts(p, c, w, r, h))
        resolution = self._cache.get((endpoint, model))
        if resolution is None:
            resolution = self._resolve(endpoint, model)
        tier, priced_by = resolution.tier(p + w + r + h)
        lines, total = tier.lines(p, c, w, r, h, context)
        return priced_cost(endpoint, model, resolution.value_key, priced_by, context, lines, total)

    def resolve(
        self, endpoint: str, model: str, input_tokens: int = 0
    ) -> tuple[Rates, str | None, PricedBy]:
        """The rates an event with ``input_tokens`` input tokens would be charged."""
        resolution = self._lookup(endpoint, model)
        tier, priced_by = resolution.tier(input_tokens)
        return tier.rates, resolution.value_key, priced_by

    def is_priced(self, endpoint: str, model: str) -> PricedBy:
        """How a model is priced below any premium threshold (for coverage views)."""
        return self._lookup(endpoint, model).priced_by

    def value_key(self, endpoint: str, model: str) -> str | None:
        """The matched price key (tokenConfig model name or table key), or None."""
        return self._lookup(endpoint, model).value_key

    def _lookup(self, endpoint: str, model: str) -> _Resolution:
        return self._cache.get((endpoint, model)) or self._resolve(endpoint, model)

    def _resolve(self, endpoint: str, model: str) -> _Resolution:
        config = self.config.endpoint(endpoint)
        if config is None:
            raise UnknownEndpoint.named(endpoint, self.config.endpoints.keys())
        resolution = self._build(config, model)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[(endpoint, model)] = resolution
        return resolution

    def _build(self, endpoint: EndpointConfig, model: str) -> _Resolution:
        if endpoint.free_of_charge:
            return _Resolution(None, "free", _FREE)
        entry = endpoint.token_config.get(model)
        if entry is not None:
            # Absent cache rates fall back to the entry's prompt; never premium.
            write = entry.cache_write if entry.cache_write is not None else entry.prompt
            read = entry.cache_read if entry.cache_read is not None else entry.prompt
            tier = _Tier.of(entry.prompt, entry.completion, write, read, entry.cache_write_1h)
            return _Resolution(model, "token_config", tier)
        tables = self.tables
        key = self._matcher.find(model)
        if key is None:
            rate = tables.default_rate
            return _Resolution(None, "fallback", _Tier.of(rate, rate, rate, rate))
        prompt, completion = tables.token_values[key]
        cache = tables.cache_token_values.get(key)
        standard = _tier_with_cache(prompt, completion, cache)
        premium = tables.premium_token_values.get(key)
        if premium is None:
            return _Resolution(key, "default", standard)
        threshold, premium_prompt, premium_completion = premium
        # Explicit cache rates stay; missing ones follow the premium prompt rate.
        premium_tier = _tier_with_cache(premium_prompt, premium_completion, cache)
        return _Resolution(key, "default", standard, premium_tier, threshold)


def _tier_with_cache(
    prompt: Decimal, completion: Decimal, cache: tuple[Decimal, Decimal] | None
) -> _Tier:
    if cache is None:
        return _Tier.of(prompt, completion, prompt, prompt)
    return _Tier.of(prompt, completion, cache[0], cache[1])
