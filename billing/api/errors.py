"""One error format for every failure: {"error": code, "detail": message}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

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

# Documented in OpenAPI for every route (see billing/main.py).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string"},
        "detail": {"type": "string"},
        "fields": {"type": "array", "items": {"type": "object"}},
    },
}


def documented_errors(errors: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route's own errors: {404: "user_not_found"} and so on."""
    return {
        status: {
            "description": description,
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
        for status, description in errors.items()
    }


def error_response(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "detail": detail}
    body.update(jsonable_encoder(extra))
    return JSONResponse(status_code=status, content=body)


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def _billing_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BillingError)
    return error_response(exc.status_code, exc.code, exc.detail, **exc.extra)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {"field": _field_path(tuple(err.get("loc", ()))), "message": err.get("msg", "")}
        for err in exc.errors()
    ]
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:10]) or "invalid request"
    return error_response(422, "invalid_request", detail, fields=fields)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "invalid_request")
    return error_response(exc.status_code, code, str(exc.detail))


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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(BillingError, _billing_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
