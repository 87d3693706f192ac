"""Bodies of GET /v1/pricebooks and GET /v1/pricebooks/{id}."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from billing.api.schemas import StrictModel


class PriceBookOut(StrictModel):
    id: int = Field(description="the version's number, in recording order")
    content_hash: str = Field(
        description="hash of the effective rates; usage events name the version they are "
        "priced with by it"
    )
    created_at: datetime = Field(description="when a config load first brought these rates in")
    current: bool = Field(description="the rates the answering process prices with now")
    rates: dict[str, Any] | None = Field(
        default=None,
        description="the effective rates (credits per token, exact decimal strings): each "
        "endpoint's freeOfCharge and tokenConfig, and the built-in tables; only in "
        "GET /v1/pricebooks/{id}",
    )


class PriceBooksOut(StrictModel):
    versions: list[PriceBookOut] = Field(description="newest first")
