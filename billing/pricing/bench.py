"""Pricing engine throughput (pure CPU): ``python -m billing.pricing.bench``.

Prices a fixed mix of realistic events (table keys, versioned and
provider-prefixed names, unknown models, tokenConfig, cache-heavy and
cancelled events) on a warm price book and prints events priced per second.
"""

from __future__ import annotations

import argparse
import random
import time
from decimal import Decimal
from types import MappingProxyType

from billing.config.model import AppConfig, EndpointConfig, ModelRates, default_config
from billing.pricing.engine import PriceBook
from billing.pricing.tables import load_default_tables
from billing.pricing.types import TokenCounts


def _book() -> PriceBook:
    endpoints = dict(default_config().endpoints)
    endpoints["Claude-Compatible"] = EndpointConfig(
        name="Claude-Compatible",
        kind="custom",
        token_config=MappingProxyType(
            {
                "claude-sonnet-4-5": ModelRates(
                    Decimal(3), Decimal(15), 200_000, Decimal("0.3"), Decimal("3.75")
                )
            }
        ),
    )
    return PriceBook(AppConfig(endpoints=MappingProxyType(endpoints)))


def _events(count: int, seed: int) -> list[tuple[str, str, TokenCounts, str]]:
    rng = random.Random(seed)
    keys = list(load_default_tables().token_values)
    models = [
        *keys,
        *(f"{key}-2025-01-01" for key in keys[::3]),
        *(f"openrouter/acme/{key}" for key in keys[::5]),
        "my-local-model",
        "gpt-4-0613",
    ]
    events = []
    for _ in range(count):
        if rng.random() < 0.1:
            endpoint, model = "Claude-Compatible", "claude-sonnet-4-5"
        else:
            endpoint, model = "openAI", rng.choice(models)
        cached = rng.random() < 0.5
        tokens = TokenCounts(
            prompt=rng.randrange(1, 300_000),
            completion=rng.randrange(0, 8_000),
            cache_write=rng.randrange(0, 20_000) if cached else 0,
            cache_read=rng.randrange(0, 100_000) if cached else 0,
        )
        context = "incomplete" if rng.random() < 0.05 else "message"
        events.append((endpoint, model, tokens, context))
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    book, events = _book(), _events(args.events, seed=1)
    price = book.price
    for endpoint, model, tokens, context in events[:5_000]:  # warm the caches
        price(endpoint, model, tokens, context)
    best = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        for endpoint, model, tokens, context in events:
            price(endpoint, model, tokens, context)
        best = min(best, time.perf_counter() - start)
    print(
        f"priced {len(events):,} events: {len(events) / best:,.0f} events/s (best of {args.repeat})"
    )


if __name__ == "__main__":
    main()
