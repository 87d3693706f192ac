"""Errors of the gateway, answered in the provider's own error shape.

The clients of the gateway are provider SDKs (LibreChat's among them): they
read ``{"error": {"message", "type", "code"}}`` (OpenAI) or ``{"type":
"error", "error": {"type", "message"}}`` (Anthropic) and show the message to
the user. ``code`` is billing's stable error code (e.g. insufficient_balance).
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

from billing.errors import BillingError

OPENAI = "openai"
ANTHROPIC = "anthropic"

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
}
# https://docs.anthropic.com/en/api/errors
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class GatewayError(Exception):
    """A refusal of the gateway itself (not one passed through from the upstream)."""

    def __init__(self, status: int, code: str, message: str, dialect: str = OPENAI) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.dialect = dialect

    @classmethod
    def of(cls, exc: BillingError, dialect: str) -> GatewayError:
        return cls(exc.status_code, exc.code, exc.detail, dialect)

    def body(self) -> bytes:
        return error_body(self.status, self.code, self.message, self.dialect)

    def response(self) -> Response:
        return Response(self.body(), self.status, media_type="application/json")


def error_body(status: int, code: str, message: str, dialect: str) -> bytes:
    if dialect == ANTHROPIC:
        kind = _ANTHROPIC_TYPES.get(status, "api_error")
        return orjson.dumps(
            {"type": "error", "error": {"type": kind, "message": message, "code": code}}
        )
    kind = _OPENAI_TYPES.get(status, "api_error")
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


def dialect_of_path(path: str) -> str:
    """Which shape an error on ``path`` takes: Anthropic's on /v1/messages."""
    return ANTHROPIC if path.endswith("/v1/messages") else OPENAI


async def _handle(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return exc.response()


def install_gateway_errors(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _handle)
