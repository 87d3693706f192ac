"""One error format for every failure.

``{"error": code, "detail": message}``; validation errors add ``"fields":
[{"loc": "tokens.prompt", "message": "..."}]``. ``loc`` is the field's path in
the body or query (``events[2].tokens.prompt`` inside a batch). Messages are
written for people: no pydantic prefixes ("Value error, ..."), no regexes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from billing.api.schemas import PATTERN_MESSAGES
from billing.errors import BillingError

log = logging.getLogger("billing.api")

_STATUS_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "invalid_request",
    409: "conflict",
    413: "payload_too_large",
    415: "invalid_request",
    422: "invalid_request",
    503: "unavailable",
}

# The error body's schema in OpenAPI: use documented_errors, not this directly.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "stable code, e.g. invalid_request"},
        "detail": {"type": "string", "description": "what is wrong and what to do"},
        "fields": {
            "type": "array",
            "description": "validation errors: one per field",
            "items": {
                "type": "object",
                "required": ["loc", "message"],
                "properties": {
                    "loc": {"type": "string", "examples": ["tokens.prompt"]},
                    "message": {"type": "string"},
                },
            },
        },
    },
}


def documented_errors(errors: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for errors: {404: "no balance (user_not_found)"} and so on.

    The one place that writes an error response's OpenAPI entry."""
    return {
        status: {
            "description": description,
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
        for status, description in errors.items()
    }


# Errors any route may answer (auth, body limits, validation, database), documented
# once for the whole app (billing/main.py); routes document their own with documented_errors.
COMMON_ERRORS = documented_errors(
    {
        401: "missing or invalid API key (unauthorized)",
        403: "the key lacks the scope (forbidden)",
        408: "the body stopped arriving (request_timeout)",
        413: "body too large (payload_too_large)",
        415: "the body is not application/json (invalid_request)",
        422: "invalid input (invalid_request, unknown_endpoint)",
        503: "database unavailable (unavailable)",
    }
)


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "detail": detail}
    body.update(jsonable_encoder(extra))
    return body


def error_bytes(code: str, detail: str) -> bytes:
    """The compact JSON of an error, for middleware that answers below FastAPI."""
    return json.dumps(error_body(code, detail), separators=(",", ":")).encode()


def error_response(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    # Starlette's JSONResponse renders compact JSON (no spaces).
    return JSONResponse(
        status_code=status, content=error_body(code, detail, **extra), headers=headers
    )


def field_path(loc: tuple[Any, ...]) -> str:
    """``("body", "events", 2, "tokens")`` -> ``events[2].tokens``."""
    path = ""
    for part in loc:
        if part in ("body", "query", "path", "header"):
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


# pydantic's wording where it is not a person's: class names, regexes, prefixes.
_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown field; remove it (names are snake_case)",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "json_invalid": "invalid JSON",
}


def field_message(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])  # the validator's own words, without "Value error, "
    if kind == "string_pattern_mismatch":
        return PATTERN_MESSAGES.get(str(ctx.get("pattern")), "does not have the expected format")
    return _MESSAGES.get(kind) or str(err.get("msg", "invalid"))


def validation_fields(errors: Any) -> list[dict[str, str]]:
    return [
        {"loc": field_path(tuple(err.get("loc", ()))), "message": field_message(err)}
        for err in errors
    ]


def _without_location(detail: str, loc: str) -> str:
    """``"events[2].occurred_at: needs a zone"`` -> ``"needs a zone"``: ``loc`` says where."""
    where, sep, message = detail.partition(": ")
    return message if sep and loc.startswith(where) else detail


async def _billing_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BillingError)
    extra = dict(exc.extra)
    field = extra.pop("field", None)
    if field is not None:  # the same shape as a validation error
        extra["fields"] = [{"loc": field, "message": _without_location(exc.detail, field)}]
    return error_response(exc.status_code, exc.code, exc.detail, **extra)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = validation_fields(exc.errors())
    detail = "; ".join(f"{f['loc']}: {f['message']}" for f in fields[:10]) or "invalid request"
    return error_response(422, "invalid_request", detail, fields=fields)


def _http_detail(request: Request, exc: StarletteHTTPException) -> str:
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 404 and exc.detail == "Not Found":  # routing: no such path
        return f"{where}: no such route (the routes are listed at /docs)"
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow")
        return f"{where}: method not allowed" + (f"; use {allowed}" if allowed else "")
    return str(exc.detail)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "invalid_request")
    return error_response(exc.status_code, code, _http_detail(request, exc), headers=exc.headers)


async def _database_error(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DataError):
        # e.g. a value out of the column's range: the client's input, not an outage.
        return error_response(422, "invalid_request", "a value is out of the storable range")
    if isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        log.error("database unavailable: %s", exc.__class__.__name__)
        return error_response(503, "unavailable", "the database is unavailable; retry later")
    log.exception("database error", exc_info=exc)
    return error_response(500, "internal", "internal error")


async def _unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    # Starlette logs the exception itself after this answer; the client sees no internals.
    return error_response(500, "internal", "internal error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(BillingError, _billing_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
