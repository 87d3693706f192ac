"""Domain errors. Services raise these; one handler renders them as
``{"error": code, "detail": ...}`` (see billing/api/errors.py)."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from typing import Any


class BillingError(Exception):
    code = "invalid_request"
    status_code = 400

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidRequest(BillingError):
    code = "invalid_request"
    status_code = 422


class Unauthorized(BillingError):
    code = "unauthorized"
    status_code = 401


class Forbidden(BillingError):
    code = "forbidden"
    status_code = 403


class NotFound(BillingError):
    code = "not_found"
    status_code = 404


class UserNotFound(BillingError):
    code = "user_not_found"
    status_code = 404


class UnknownEndpoint(BillingError):
    code = "unknown_endpoint"
    status_code = 422

    # Up to this many configured names are listed in the message.
    LISTED = 10

    @classmethod
    def named(cls, endpoint: str, configured: Collection[str]) -> UnknownEndpoint:
        """The error for ``endpoint``, suggesting the closest configured name."""
        by_lower = {name.lower(): name for name in configured}
        wanted = endpoint.lower()
        close = difflib.get_close_matches(wanted, list(by_lower), n=1)
        match = wanted if wanted in by_lower else (close[0] if close else None)
        detail = f"endpoint {endpoint[:100]!r} is not configured"
        if match is not None:
            detail += f"; did you mean {by_lower[match]!r}?"
        if not configured:
            detail += " (no endpoint is configured)"
        elif len(configured) <= cls.LISTED:
            detail += f" (configured: {', '.join(sorted(configured, key=str.lower))})"
        else:
            detail += f" ({len(configured)} are configured: GET /api/endpoints lists them)"
        return cls(detail, field="endpoint")


class InsufficientBalance(BillingError):
    code = "insufficient_balance"
    status_code = 402


class BudgetExceeded(BillingError):
    """The call would take the period's spend plus active holds above the user's budget."""

    code = "budget_exceeded"
    status_code = 402


class ReservationNotFound(BillingError):
    code = "reservation_not_found"
    status_code = 404


class ReservationExpired(BillingError):
    code = "reservation_expired"
    status_code = 409


class IdempotencyConflict(BillingError):
    """An idempotency key reused with other content (never shows the original's values)."""

    code = "idempotency_conflict"
    status_code = 409


class PayloadTooLarge(BillingError):
    code = "payload_too_large"
    status_code = 413


class Conflict(BillingError):
    code = "conflict"
    status_code = 409


class Unavailable(BillingError):
    code = "unavailable"
    status_code = 503
