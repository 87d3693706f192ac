"""Bodies of the reservation routes and of a settlement in the usage response."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from fastapi.openapi.models import Example
from pydantic import BaseModel, Field, StrictInt

from billing import money
from billing.api.schemas import CostOut, Identifier, Money
from billing.balances.check_schemas import ESTIMATE_EXAMPLE, SpendEstimateIn
from billing.reservations.types import MAX_TTL_SECONDS, MIN_TTL_SECONDS, Settlement

if TYPE_CHECKING:  # the service's results; importing a schema must not load the service
    from billing.reservations.service import Created, View

ReservationStatus = Literal["active", "settled", "released", "expired"]
SettlementOutcome = Literal[
    "settled",
    "settled_expired",
    "already_settled",
    "released",
    "user_mismatch",
    "not_found",
    "drawn",
    "drawn_expired",
]
ReservationKind = Literal["hold", "lease"]


class ReservationIn(SpendEstimateIn):
    user_id: Identifier
    ttl_seconds: StrictInt | None = Field(
        default=None,
        ge=MIN_TTL_SECONDS,
        le=MAX_TTL_SECONDS,
        description="hold lifetime; default BILLING_RESERVATION_TTL_SECONDS",
    )
    idempotency_key: Identifier | None = Field(
        default=None,
        description="a retry with the same key and request returns the same hold;"
        " the key with another request is 409 idempotency_conflict",
    )


RESERVATION_EXAMPLES: dict[str, Example] = {
    "hold": {
        "summary": "hold the estimate for 10 minutes",
        "value": {"user_id": "alice", **ESTIMATE_EXAMPLE, "ttl_seconds": 600},
    }
}


class ReservationOut(BaseModel):
    reservation_id: str
    user_id: str
    endpoint: str
    model: str
    amount_credits: Money
    status: ReservationStatus = Field(
        description="expired: still active in storage but past expires_at, so it holds nothing"
    )
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    settled_event_id: str | None
    settled_credits: Money | None = Field(description="real cost of the settling event")
    idempotency_key: str | None = Field(default=None, description="as sent when created")
    kind: ReservationKind = Field(
        default="hold",
        description="hold: one call's estimate, closed by the event naming it; lease: credit a"
        " gateway worker set aside for the user's coming calls (endpoint and model '*'), which"
        " the events naming it draw from until it is released or expires",
    )

    @classmethod
    def of(cls, view: View) -> ReservationOut:
        return cls(**_reservation_fields(view))


def _reservation_fields(view: View) -> dict[str, Any]:
    row = view.row
    return {
        "reservation_id": row.id,
        "user_id": row.user_id,
        "endpoint": row.endpoint,
        "model": row.model,
        "amount_credits": money.credits_str(row.amount_micro),
        "status": view.status,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "closed_at": row.closed_at,
        "settled_event_id": row.settled_event_id,
        "settled_credits": None
        if view.settled_micro is None
        else money.credits_str(view.settled_micro),
        "idempotency_key": row.idempotency_key,
        "kind": row.kind,
    }


class ReservationCreated(ReservationOut):
    balance: Money
    available_credits: Money = Field(description="balance minus active holds, this one included")
    cost: CostOut = Field(description="the estimate that was held")
    replayed: bool = Field(
        default=False,
        description="true when a retry's idempotency_key found the hold created earlier"
        " (shown as it is now); nothing new was held",
    )

    @classmethod
    def of_created(cls, created: Created) -> ReservationCreated:
        return cls(
            **_reservation_fields(created.view),
            balance=money.credits_str(created.balance_micro),
            available_credits=money.credits_str(created.available_micro),
            cost=CostOut.model_validate(created.cost),
            replayed=created.replayed,
        )


class ReservationPage(BaseModel):
    reservations: list[ReservationOut]
    next_cursor: str | None = Field(description="pass as cursor for the next page")


class SettlementOut(BaseModel):
    """What a usage event's reservation_id did; the usage is recorded in every case."""

    reservation_id: str
    outcome: SettlementOutcome
    held_credits: Money | None = Field(description="the hold's amount (null if not found/other)")
    charged_credits: Money = Field(description="the event's real cost")

    @classmethod
    def of(cls, settlement: Settlement) -> SettlementOut:
        held = settlement.held_micro
        return cls(
            reservation_id=settlement.reservation_id,
            outcome=settlement.outcome,
            held_credits=None if held is None else money.credits_str(held),
            charged_credits=money.credits_str(settlement.charged_micro),
        )
