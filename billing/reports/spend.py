"""What reports count as spend: priced token lines, whether this service
recorded them (``usage``) or they came from LibreChat's history (``import``).

Grants, refills, set-balance and opening rows move balances but are not
costs, and imported ``credits`` rows are grants.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_

from billing.pricing.types import TOKEN_TYPES

SPEND_KINDS: tuple[str, ...] = ("usage", "import")
_SPEND_KINDS = frozenset(SPEND_KINDS)
_TOKEN_TYPES = frozenset(TOKEN_TYPES)


def is_spend(kind: str, token_type: str | None) -> bool:
    return kind in _SPEND_KINDS and token_type in _TOKEN_TYPES


def spend_clause(entity: Any) -> Any:
    """SQL form of ``is_spend`` over a ledger entity or alias."""
    return and_(entity.kind.in_(SPEND_KINDS), entity.token_type.in_(TOKEN_TYPES))
