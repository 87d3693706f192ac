"""Reprice rate on PostgreSQL: N recorded events (default 1,000,000) priced again.

Seeds N events of U users at the old prices straight into a fresh migrated
database (one INSERT ... SELECT per table from the rows ingest itself builds
for one event, ``prepare_events``: the event row, its four usage ledger rows,
balances equal to the sum of each user's ledger), then times one applied
reprice run with a price cut (the service, as POST /v1/admin/reprice runs it:
chunks of ``--chunk`` events, each its own transaction), checks every event
changed and ``balance == sum(ledger)``, and times the idempotent re-run.

    .venv/bin/python -m benchmarks.reprice [--events N] [--users U] [--chunk C]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from billing.balances.service import reconcile
from billing.config.loader import parse_config
from billing.db import make_session_factory
from billing.dialect import for_engine
from billing.pricing.engine import PriceBook
from billing.reprice import service
from billing.runtime import ConfigSnapshot
from billing.usage.schemas import UsageEventIn
from billing.usage.service import prepare_events
from testkit.databases import postgres_database, postgres_reachable

CONFIG = """
transactions:
  enabled: true
endpoints:
  custom:
    - name: Claude-Compatible
      apiKey: test-key
      baseURL: https://api.anthropic.com
      models:
        default: [claude-sonnet-4-5]
      tokenConfig:
        claude-sonnet-4-5:
          prompt: 3
          completion: 15
          context: 200000
          cacheRead: 0.3
          cacheWrite: 3.75
"""
CHEAPER = CONFIG.replace("prompt: 3\n", "prompt: 2\n")
EVENT = {
    "event_id": "template",
    "user_id": "template",
    "endpoint": "Claude-Compatible",
    "model": "claude-sonnet-4-5",
    "conversation_id": "conv",
    "tokens": {"prompt": 1000, "completion": 200, "cache_write": 1000, "cache_read": 5000},
}


def _snapshot(yaml_text: str) -> ConfigSnapshot:
    config = parse_config(yaml_text)
    return ConfigSnapshot(
        config=config, prices=PriceBook(config), loaded_at=datetime.now(UTC), version="bench"
    )


def seed(url: str, events: int, users: int) -> None:
    """N events spread over the last 30 days and U users, as ingest records them."""
    now = datetime.now(UTC)
    (template,) = prepare_events(_snapshot(CONFIG), [UsageEventIn.model_validate(EVENT)], now)
    row = template.event_row
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                """
                INSERT INTO usage_event (event_id, user_id, endpoint, model, context,
                    conversation_id, prompt_tokens, completion_tokens, cache_write_tokens,
                    cache_read_tokens, value_key, priced_by, total_micro, cost_json,
                    fingerprint, occurred_at, received_at, price_book)
                SELECT 'bench-' || n, 'user-' || (n % :users), :endpoint, :model, :context,
                    'conv-' || (n / 10), :p, :c, :w, :r, :value_key, :priced_by, :total,
                    :cost_json, :fingerprint, :start + n * interval '1 millisecond', :now, :book
                FROM generate_series(1, :events) AS n
                """
            ),
            {
                "users": users,
                "events": events,
                "start": now - timedelta(days=30),
                "now": now,
                "endpoint": row["endpoint"],
                "model": row["model"],
                "context": row["context"],
                "p": row["prompt_tokens"],
                "c": row["completion_tokens"],
                "w": row["cache_write_tokens"],
                "r": row["cache_read_tokens"],
                "value_key": row["value_key"],
                "priced_by": row["priced_by"],
                "total": row["total_micro"],
                "cost_json": row["cost_json"],
                "fingerprint": row["fingerprint"],
                "book": row["price_book"],
            },
        )
        values = ", ".join(
            f"('{line['token_type']}', {line['tokens']}, '{line['rate']}', {line['amount_micro']})"
            for line in template.ledger_rows
        )
        conn.execute(
            text(
                f"""
                INSERT INTO ledger_entry (user_id, kind, amount_micro, token_type, tokens, rate,
                    value_key, priced_by, context, endpoint, model, conversation_id, event_id,
                    created_at)
                SELECT e.user_id, 'usage', l.amount, l.token_type, l.tokens, l.rate,
                    e.value_key, e.priced_by, e.context, e.endpoint, e.model, e.conversation_id,
                    e.event_id, e.occurred_at
                FROM usage_event e CROSS JOIN (VALUES {values}) AS l(token_type, tokens, rate,
                    amount)
                """
            )
        )
        conn.execute(
            text(
                """
                INSERT INTO balance (user_id, amount_micro, auto_refill_enabled,
                    refill_interval_value, refill_interval_unit, refill_amount_micro,
                    created_at, updated_at)
                SELECT user_id, sum(amount_micro), false, 30, 'days', 0, :now, :now
                FROM ledger_entry GROUP BY user_id
                """
            ),
            {"now": now},
        )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    engine.dispose()


def run(url: str, chunk: int) -> tuple[float, service.RepriceResult, float]:
    engine = create_engine(url)
    sessions = make_session_factory(engine, for_engine(engine))
    snapshot = _snapshot(CHEAPER)
    selection = service.Selection(
        datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    )

    def reprice() -> tuple[float, service.RepriceResult]:
        started = time.perf_counter()
        result = service.reprice(
            sessions,
            snapshot.config,
            snapshot.prices,
            selection,
            datetime.now(UTC),
            dry_run=False,
            reason="benchmark",
            chunk=chunk,
        )
        return time.perf_counter() - started, result

    seconds, result = reprice()
    again, _ = reprice()
    with sessions() as session:
        assert reconcile(session) == [], "balance != sum(ledger) after the run"
    engine.dispose()
    return seconds, result, again


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--chunk", type=int, default=service.DEFAULT_CHUNK)
    args = parser.parse_args()
    problem = postgres_reachable()
    if problem:
        raise SystemExit(f"PostgreSQL is not reachable: {problem}")
    with postgres_database("billing_bench_reprice") as url:
        started = time.perf_counter()
        seed(url, args.events, args.users)
        print(f"seeded {args.events:,} events in {time.perf_counter() - started:.1f} s")
        seconds, result, again = run(url, args.chunk)
    assert result.changed_events == args.events, result
    print(
        f"reprice: {result.events:,} events, {result.changed_events:,} changed, delta "
        f"{result.new_micro - result.old_micro} micro-credits in {seconds:.1f} s "
        f"({result.events / seconds:,.0f} events/s); re-run (nothing to do) {again:.1f} s"
    )


if __name__ == "__main__":
    main()
