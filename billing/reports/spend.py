"""What reports count as spend: priced token lines, whether this service
recorded them (``usage``) or they came from LibreChat's history (``import``),
and their corrections (``reprice``: the difference a reprice run made;
``void``: the reversal of a voided event, with negative tokens), so reports
show corrected costs.

Grants, refills, set-balance and opening rows move balances but are not
costs, and imported ``credits`` rows are grants.

Reports have one column per TOKEN_TYPES entry; a 1-hour cache write line
(``cache_write_1h``, its own rate) counts as a cache write.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_

from billing.pricing.types import CACHE_WRITE_1H, LINE_TYPES, TOKEN_TYPES

SPEND_KINDS: tuple[str, ...] = ("usage", "import", "reprice", "void")
_SPEND_KINDS = frozenset(SPEND_KINDS)
# Ledger token type of a priced line -> the report token type counting it.
REPORTED_AS: dict[str, str] = {**{t: t for t in TOKEN_TYPES}, CACHE_WRITE_1H: "cache_write"}
# Ledger token type -> its report column (index in TOKEN_TYPES).
REPORT_INDEX: dict[str, int] = {t: TOKEN_TYPES.index(shown) for t, shown in REPORTED_AS.items()}


def is_spend(kind: str, token_type: str | None) -> bool:
    return kind in _SPEND_KINDS and token_type in REPORT_INDEX


def spend_clause(entity: Any) -> Any:
    """SQL form of ``is_spend`` over a ledger entity or alias."""
    return and_(entity.kind.in_(SPEND_KINDS), entity.token_type.in_(LINE_TYPES))


def ledger_types(token_type: str) -> tuple[str, ...]:
    """The ledger token types a report token type counts."""
    return tuple(t for t, shown in REPORTED_AS.items() if shown == token_type)
