"""Refuse request bodies that are not strict JSON, before any route sees them.

Python's ``json`` accepts what RFC 8259 does not (NaN, Infinity, duplicate
keys with the last one silently winning) and fails badly on some inputs
(deep nesting raises RecursionError, 5,000-digit numbers raise ValueError).
This middleware parses every request body once with those holes closed and
answers a clean error in the docs/api.md shape; routes then parse a body known to
be sound. It sits inside the body size limit, so it never buffers more than
``BILLING_MAX_BODY_BYTES``.

A route may register a fast decoder for its path (register_fast_decoder):
its value, when it has one, stands in for the parse (``fast_body``); when it
has none the body is parsed here as above, so refusals do not change.

Numbers with a fraction or exponent are parsed from their source text into
Decimal, never through a binary float, so a money input sent as a JSON number
(``"amount": 0.1``) is exact. Routes that take a FastAPI body parameter get
this same document through ``StrictJsonRoute``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from email.message import Message as MimeHeader
from typing import Any, TypeVar

import msgspec
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billing.api.errors import error_bytes

PARSED_BODY = "billing.parsed_json_body"
FAST_BODY = "billing.fast_json_body"
_ABSENT = object()

# path -> a route's own decoder of its raw body: the validated value, or None to
# leave the body to parse_strict_json and the route's generic validation (which
# then answers any error). For the hottest body, POST /v1/usage: one C-level
# decode instead of a parse plus a pydantic walk (billing/usage/fast_body.py).
FastDecoder = Callable[[bytes], Any]
_fast_decoders: dict[str, FastDecoder] = {}


def register_fast_decoder(path: str, decode: FastDecoder) -> None:
    _fast_decoders[path] = decode


def fast_body(scope: Scope) -> Any:
    """What the path's fast decoder made of the body, or None (then see parsed_body)."""
    return scope.get(FAST_BODY)


def parsed_body(scope: Scope) -> Any:
    """The request's JSON document as this middleware parsed it; 422 when there is none."""
    body = scope.get(PARSED_BODY, _ABSENT)
    if body is _ABSENT:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    return body


T = TypeVar("T")


def validated_body(
    scope: Scope,
    adapter: TypeAdapter[T],
    *,
    context: dict[str, Any] | None = None,
    tagged: bool = False,
) -> T:
    """The request's JSON document validated by ``adapter``; 422 in FastAPI's shape.

    For hot routes that take the body this way instead of as a FastAPI body
    parameter: the document is not parsed twice, and FastAPI's per-request
    parameter solving is skipped (make bench). Their OpenAPI body is declared
    with ``openapi.json_request_body`` from the same adapter.

    ``context`` is pydantic's validation context. ``tagged``: ``adapter`` is a
    discriminated union (e.g. one event or a batch); pydantic starts each
    error's loc with the tag it chose, which is no part of the client's body.
    """
    skip = 1 if tagged else 0
    try:
        return adapter.validate_python(parsed_body(scope), context=context)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**err, "loc": ("body", *err["loc"][skip:])} for err in exc.errors()]
        ) from None


async def parse_again(request: Request) -> None:
    """For a route that cannot use what its fast decoder made of the body: the body
    parsed the generic way after all (parsed_body then has it)."""
    request.scope[PARSED_BODY] = parse_strict_json(await request.body())


class _ParsedJsonRequest(Request):
    """A request whose ``json()`` is the document StrictJsonBody parsed (exact numbers)."""

    async def json(self) -> Any:
        return self.scope.get(PARSED_BODY) if PARSED_BODY in self.scope else await super().json()


class StrictJsonRoute(APIRoute):
    """Route class for every router with a JSON body parameter: FastAPI would
    otherwise parse the body again with ``json.loads``, floats and all."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(_ParsedJsonRequest(request.scope, request.receive))

        return strict_handler


class BodyRefused(ValueError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _refuse_constant(name: str) -> Any:
    raise BodyRefused(422, f"body: {name} is not valid JSON (numbers must be finite)")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):  # the common case costs one C-level dict build
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise BodyRefused(422, f"body: duplicate key '{key[:100]}' in a JSON object")
            seen.add(key)
    return result


def json_texts(value: Any) -> int:
    """Keys and strings in a decoded JSON value: each took two ``"`` in its source."""
    if isinstance(value, dict):
        return len(value) + sum(json_texts(v) for v in value.values())
    if isinstance(value, list):
        return sum(json_texts(v) for v in value)
    return 1 if isinstance(value, str) else 0


# The common body parsed in C: msgspec refuses what json.loads refuses here and more
# (NaN, lone surrogates: tests/api/test_strict_json.py), but lets a repeated key win.
# A decoded document that accounts for every ``"`` of a text without an escaped
# quote has no repeated key (a lost key takes its quotes with it), and is then the
# document json.loads makes. Bodies with many brackets (deep ones near the recursion
# limit, where the two could differ) take json.loads, as does anything refused.
_c_json = msgspec.json.Decoder(float_hook=Decimal)
_MAX_FAST_BRACKETS = 256


def _fast_document(raw: bytes) -> Any:
    """The document, or _ABSENT when json.loads should decide."""
    if b'\\"' in raw or raw.count(b"{") + raw.count(b"[") > _MAX_FAST_BRACKETS:
        return _ABSENT
    try:
        document = _c_json.decode(raw)
    except Exception:  # DecodeError, ArithmeticError (Decimal), RecursionError
        return _ABSENT
    return document if 2 * json_texts(document) == raw.count(b'"') else _ABSENT


def parse_strict_json(raw: bytes) -> Any:
    """The document, or BodyRefused(422) naming what is wrong."""
    document = _fast_document(raw)
    return document if document is not _ABSENT else _parse_with_json(raw)


def _parse_with_json(raw: bytes) -> Any:
    """The rule book: json.loads with the holes closed; every refusal worded."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyRefused(422, f"body: not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_refuse_constant,
            parse_float=Decimal,  # exact: money inputs may be JSON numbers
        )
    except json.JSONDecodeError as exc:
        raise BodyRefused(
            422, f"body: invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        # The C scanner guards its recursion, so this is a clean refusal, not a crash.
        raise BodyRefused(422, "body: JSON nested too deeply") from None
    except BodyRefused:
        raise
    except ArithmeticError:  # decimal.InvalidOperation: an exponent past Decimal's range
        raise BodyRefused(422, "body: invalid JSON: a number is out of range") from None
    except ValueError as exc:  # e.g. integers longer than Python's digit limit
        raise BodyRefused(422, f"body: invalid JSON: {str(exc)[:200]}") from None


_PLAIN_JSON = frozenset({b"application/json", b"application/json; charset=utf-8"})


def is_json(content_type: bytes | None) -> bool:
    """A JSON media type (also the hot routes' rule, billing/api/hot_path.py)."""
    if content_type is None:
        return False
    if content_type in _PLAIN_JSON:  # what clients send; the MIME parser costs ~50 us
        return True
    header = MimeHeader()
    header["content-type"] = content_type.decode("latin-1")
    subtype = header.get_content_subtype()
    return header.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class StrictJsonBody:
    """Pure ASGI middleware: non-empty bodies must be strict JSON sent as JSON.

    415 ``invalid_request`` for another content type, 422 ``invalid_request``
    for bad JSON; the sound body is replayed to the app unchanged.
    """

    def __init__(self, app: ASGIApp, exempt_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        # Paths whose bodies are not this API's JSON: the console's HTML forms, and
        # the gateway's provider bodies (forwarded as they are, parsed by the gateway).
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in ("GET", "HEAD", "OPTIONS")
            or scope["path"].startswith(self.exempt_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # client went away
                await self.app(scope, _replay([], message, receive), send)
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        if raw:
            content_type = next((v for k, v in scope["headers"] if k == b"content-type"), None)
            try:
                if not is_json(content_type):
                    raise BodyRefused(415, "content-type: the body must be application/json")
                decode = _fast_decoders.get(scope["path"])
                fast = None if decode is None else decode(raw)
                if fast is not None:
                    scope[FAST_BODY] = fast
                else:  # kept for routes that read it (parsed_body) instead of parsing again
                    scope[PARSED_BODY] = parse_strict_json(raw)
            except BodyRefused as refused:
                await _answer(send, refused.status, refused.detail)
                return
        await self.app(scope, _replay([raw], None, receive), send)


def _replay(bodies: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    queue: list[Message] = [{"type": "http.request", "body": b"".join(bodies), "more_body": False}]
    if pending is not None:
        queue = [pending]

    async def replay() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replay


async def _answer(send: Send, status: int, detail: str) -> None:
    body = error_bytes("invalid_request", detail)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
