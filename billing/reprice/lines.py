"""An event's current cost lines: what its ledger rows add up to, per token type.

A usage event's lines start as the cost it was answered with (cost_json, the
original charge); a reprice that changes them stores the new ones in
usage_event.lines_json, so the next reprice or a void starts from what the
ledger holds now without reading the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import orjson

from billing import money
from billing.pricing.types import Cost, TokenCounts


@dataclass(frozen=True, slots=True)
class Line:
    tokens: int
    rate: str  # exact decimal text
    micro: int  # the charge, positive


Lines = dict[str, Line]  # token type -> line


def current_lines(cost_json: str, lines_json: str | None) -> Lines:
    if lines_json is not None:
        stored = orjson.loads(lines_json)
        return {kind: Line(int(t), str(r), int(m)) for kind, (t, r, m) in stored.items()}
    answered = orjson.loads(cost_json)["lines"]
    return {
        kind: Line(
            int(line["tokens"]), line["rate"], money.micro_from_credits(Decimal(line["credits"]))
        )
        for kind, line in answered.items()
    }


def cost_lines(cost: Cost) -> Lines:
    return {
        line.token_type: Line(line.tokens, money.rate_str(line.rate), line.micro)
        for line in cost.lines
    }


def lines_text(lines: Lines) -> str:
    return orjson.dumps(
        {kind: [line.tokens, line.rate, line.micro] for kind, line in lines.items()}
    ).decode()


def token_counts(lines: Lines) -> TokenCounts:
    def tokens(kind: str) -> int:
        line = lines.get(kind)
        return line.tokens if line is not None else 0

    return TokenCounts(
        prompt=tokens("prompt"),
        completion=tokens("completion"),
        cache_write=tokens("cache_write"),
        cache_read=tokens("cache_read"),
        cache_write_1h=tokens("cache_write_1h"),
    )


def total(lines: Lines) -> int:
    return sum(line.micro for line in lines.values())
