"""Bodies of POST /v1/admin/reprice and POST /v1/usage/{event_id}/void."""

from __future__ import annotations

from datetime import datetime

from fastapi.openapi.models import Example
from pydantic import AwareDatetime, Field

from billing import money
from billing.api.schemas import Identifier, Money, StrictModel
from billing.reprice.types import RepriceResult, VoidResult


class RepriceIn(StrictModel):
    from_: AwareDatetime = Field(
        alias="from", description="events occurred at or after (with a time zone)"
    )
    to: AwareDatetime = Field(description="events occurred before (exclusive)")
    endpoint: Identifier | None = Field(default=None, description="only this endpoint")
    model: Identifier | None = Field(default=None, description="only this model")
    user_id: Identifier | None = Field(default=None, description="only this user")
    dry_run: bool = Field(description="true: only answer what would change, write nothing")
    reason: str = Field(min_length=1, max_length=500, description="why (kept on every row)")


class ModelDeltaOut(StrictModel):
    endpoint: str
    model: str
    events: int
    old: Money = Field(description="credits charged before")
    new: Money = Field(description="credits at the current price book")
    delta: Money = Field(description="new - old")


class RepriceOut(StrictModel):
    run_id: str = Field(description="names the run on its ledger rows (run_id)")
    dry_run: bool
    price_book: str = Field(description="content hash of the price book priced with")
    events: int = Field(description="matching events not yet priced with this price book")
    changed_events: int = Field(description="events whose charge changed")
    skipped_events: int = Field(
        description="events of endpoints no longer configured, left as they are"
    )
    old_credits: Money
    new_credits: Money
    delta_credits: Money = Field(description="new - old: positive charges users more")
    by_model: list[ModelDeltaOut]

    @classmethod
    def of(cls, result: RepriceResult) -> RepriceOut:
        return cls(
            run_id=result.run_id,
            dry_run=result.dry_run,
            price_book=result.price_book,
            events=result.events,
            changed_events=result.changed_events,
            skipped_events=result.skipped_events,
            old_credits=money.credits_str(result.old_micro),
            new_credits=money.credits_str(result.new_micro),
            delta_credits=money.credits_str(result.new_micro - result.old_micro),
            by_model=[
                ModelDeltaOut(
                    endpoint=part.endpoint,
                    model=part.model,
                    events=part.events,
                    old=money.credits_str(part.old_micro),
                    new=money.credits_str(part.new_micro),
                    delta=money.credits_str(part.new_micro - part.old_micro),
                )
                for _, part in sorted(result.by_model.items())
            ],
        )


class VoidIn(StrictModel):
    reason: str = Field(min_length=1, max_length=500, description="why (kept on the reversal rows)")


class VoidOut(StrictModel):
    event_id: str
    user_id: str
    voided: bool = Field(description="always true")
    voided_at: datetime
    reason: str = Field(description="the reason of the first void")
    reversed_credits: Money = Field(description="the charge reversed (credits given back)")
    already_voided: bool = Field(description="true: voided before, nothing written now")

    @classmethod
    def of(cls, result: VoidResult) -> VoidOut:
        return cls(
            event_id=result.event_id,
            user_id=result.user_id,
            voided=True,
            voided_at=result.voided_at,
            reason=result.reason,
            reversed_credits=money.credits_str(result.reversed_micro),
            already_voided=result.already_voided,
        )


REPRICE_EXAMPLES: dict[str, Example] = {
    "dry_run": {
        "summary": "what would December's events cost at today's prices",
        "value": {
            "from": "2026-12-01T00:00:00Z",
            "to": "2027-01-01T00:00:00Z",
            "endpoint": "openAI",
            "dry_run": True,
            "reason": "gpt-4o price cut",
        },
    }
}
VOID_EXAMPLES: dict[str, Example] = {
    "void": {"summary": "reverse a charge", "value": {"reason": "provider outage, refunded"}}
}
