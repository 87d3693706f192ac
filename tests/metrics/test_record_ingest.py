"""metrics.record_ingest (sums per label set, grouped per model) adds exactly what
one increment per accepted event's cost line would add."""

from __future__ import annotations

from collections import Counter

from prometheus_client import REGISTRY

from benchmarks.traffic import CONFIG_YAML, Traffic
from billing import metrics
from billing.config.loader import parse_config
from billing.pricing.engine import PriceBook
from billing.pricing.types import Cost, TokenCounts

NAMES = ("billing_tokens_total", "billing_cost_credits_total", "billing_unpriced_events_total")


def _samples() -> Counter[tuple[str, frozenset[tuple[str, str]]]]:
    values: Counter[tuple[str, frozenset[tuple[str, str]]]] = Counter()
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name in NAMES or sample.name == "billing_usage_events_total":
                values[(sample.name, frozenset(sample.labels.items()))] += sample.value
    return values


def _costs(book: PriceBook) -> list[Cost]:
    costs = []
    for body in Traffic(seed=11).events(600):
        tokens = body["tokens"]
        costs.append(
            book.price(
                body["endpoint"],
                body["model"],
                TokenCounts(**tokens),
                body.get("context", "message"),
            )
        )
    # 1-hour cache writes (a fifth line), a premium tier, nothing at all.
    costs.append(book.price("anthropic", "claude-sonnet-4-20250514", TokenCounts(10, 2, 0, 0, 7)))
    costs.append(book.price("openAI", "gpt-5.4", TokenCounts(300_000, 10)))
    costs.append(book.price("openAI", "gpt-5.4", TokenCounts(3_000, 10)))
    costs.append(book.price("openAI", "gpt-4o-mini", TokenCounts()))
    return costs


def _expected(config: object, costs: list[Cost]) -> Counter[tuple[str, frozenset[tuple[str, str]]]]:
    """One increment per cost line with tokens, per cost, per fallback-priced cost."""
    expected: Counter[tuple[str, frozenset[tuple[str, str]]]] = Counter()
    for cost in costs:
        table_key = cost.value_key if cost.priced_by in ("default", "premium") else None
        endpoint, model = metrics.endpoint_model_labels(
            config, cost.endpoint, cost.model, table_key
        )  # type: ignore[arg-type]
        labels = {"endpoint": endpoint, "model": model}
        for line in cost.lines:
            if line.tokens:
                key = frozenset({**labels, "token_type": line.token_type}.items())
                expected[("billing_tokens_total", key)] += line.tokens
        expected[("billing_cost_credits_total", frozenset(labels.items()))] += cost.total_micro
        if cost.priced_by == "fallback":
            expected[("billing_unpriced_events_total", frozenset(labels.items()))] += 1
    return expected


def test_record_ingest_adds_what_each_cost_line_adds() -> None:
    config = parse_config(CONFIG_YAML)
    book = PriceBook(config)
    costs = _costs(book)
    assert {len(cost.lines) for cost in costs} == {4, 5}
    assert {"premium", "fallback", "free", "default", "token_config"} <= {
        cost.priced_by for cost in costs
    }
    before = _samples()
    metrics.record_ingest(None, config, costs, duplicates=3)
    after = _samples()
    added = Counter({key: after[key] - before.get(key, 0.0) for key in after})
    expected = _expected(config, costs)
    credits = {key for key in expected if key[0] == "billing_cost_credits_total"}
    assert {key: added[key] for key in expected if key not in credits} == {
        key: value for key, value in expected.items() if key not in credits
    }
    for key in credits:  # float counters: micro-credits / 10**6, summed per label set
        assert key in after  # the free endpoint's too (0 credits)
        assert abs(added[key] - expected[key] / 1_000_000) < 1e-6
    events = "billing_usage_events_total"
    assert {key for key, value in added.items() if value} == {
        key for key, value in expected.items() if value
    } | {
        (events, frozenset({("outcome", "accepted")})),
        (events, frozenset({("outcome", "duplicate")})),
    }
    assert added[(events, frozenset({("outcome", "accepted")}))] == len(costs)
    assert added[(events, frozenset({("outcome", "duplicate")}))] == 3
