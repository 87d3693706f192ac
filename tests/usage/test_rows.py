"""An event's ledger rows as one RowGroups group (billing/usage/rows.py): every
ledger column, the same rows as mappings, the same rollup deltas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from billing.config.loader import parse_config
from billing.ledger import ledger_row
from billing.pricing.engine import PriceBook
from billing.reports.rollup_repository import group_rollup_rows, rollup_rows, rollups_less
from billing.usage.rows import LEDGER_OWN, LEDGER_SHARED, ledger_groups, priced_event
from billing.usage.schemas import UsageEventIn
from tests.helpers import CLAUDE_CONFIG, event

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _priced(body: dict[str, Any], at: datetime = NOW, *, charged: bool = True) -> Any:
    book = PriceBook(parse_config(CLAUDE_CONFIG))
    item = UsageEventIn.model_validate(body)
    cost = book.price(item.endpoint, item.model, item.token_counts(), item.context)
    return priced_event(item, cost, at, (), NOW, charged=charged, price_book=book.version)


def test_ledger_columns_are_every_column_of_a_ledger_row() -> None:
    columns = (*LEDGER_SHARED, *LEDGER_OWN)
    assert sorted(columns) == sorted(ledger_row("u", "usage", 0, NOW))
    assert len(set(columns)) == len(columns)


def test_ledger_rows_are_one_row_per_nonempty_line() -> None:
    body = event("e1", "alice", conversation_id="c1", message_id="m1", context="incomplete")
    body["tokens"] = {"prompt": 1000, "completion": 200, "cache_read": 5000}
    item = _priced(body)
    expected = [
        ledger_row(
            "alice", "usage", -line.micro, NOW, token_type=line.token_type, tokens=line.tokens,
            rate=format(line.rate.normalize(), "f"), value_key=item.cost.value_key,
            priced_by=item.cost.priced_by, context="incomplete", endpoint="Claude-Compatible",
            model="claude-sonnet-4-5", conversation_id="c1", message_id="m1", event_id="e1",
        )
        for line in item.cost.lines
        if line.tokens
    ]  # fmt: skip
    assert [row["token_type"] for row in expected] == ["prompt", "completion", "cache_read"]
    assert item.ledger_rows == expected
    assert sum(row["amount_micro"] for row in item.ledger_rows) == -item.cost.total_micro
    assert _priced(body, charged=False).ledger_rows == []


def test_group_rollups_are_the_rollups_of_the_rows() -> None:
    bodies = [
        event(f"e{i}", f"u{i % 3}", model=model, context=context, tokens=tokens)
        for i, (model, context, tokens) in enumerate(
            [
                ("claude-sonnet-4-5", "message", {"prompt": 10, "cache_write_1h": 5}),
                ("claude-sonnet-4-5", "incomplete", {"completion": 7}),
                ("claude-sonnet-4-5", "message", {"prompt": 3, "cache_read": 2}),
                ("unknown-model", "message", {"prompt": 0}),  # no rows
                ("unknown-model", "message", {"prompt": 4, "completion": 1}),
            ]
        )
    ]
    items = [_priced(body, NOW + timedelta(minutes=20 * (i % 2))) for i, body in enumerate(bodies)]
    groups = ledger_groups(items)
    rows = [row for item in items for row in item.ledger_rows]
    assert groups.rows() == rows
    assert len(groups) == len(rows) == 7
    assert group_rollup_rows(groups) == rollup_rows(rows)
    assert {row["cache_write_tokens"] for row in group_rollup_rows(groups)} >= {5}
    assert Decimal(sum(r["prompt_micro"] for r in rollup_rows(rows))) > 0


def test_rollups_less_some_events_are_the_rollups_of_the_others() -> None:
    """Ingest takes the events found recorded already out of a batch's summed deltas:
    the same rows as summing the others afresh, keys left with nothing dropped."""
    bodies = [
        event(f"e{i}", f"u{i % 3}", model=model, tokens=tokens)
        for i, (model, tokens) in enumerate(
            [
                ("claude-sonnet-4-5", {"prompt": 10, "cache_write_1h": 5}),
                ("claude-sonnet-4-5", {"completion": 7}),
                ("unknown-model", {"prompt": 4, "completion": 1}),  # only in a skipped event
                ("claude-sonnet-4-5", {"prompt": 3, "cache_read": 2}),
            ]
        )
    ]
    items = [_priced(body, NOW + timedelta(minutes=20 * (i % 2))) for i, body in enumerate(bodies)]
    everything = group_rollup_rows(ledger_groups(items))
    for skipped in ([], [0], [2], [0, 2], [1, 3], [0, 1, 2, 3]):
        kept = [item for i, item in enumerate(items) if i not in skipped]
        less = group_rollup_rows(ledger_groups([items[i] for i in skipped]))
        assert rollups_less(everything, less) == group_rollup_rows(ledger_groups(kept))
