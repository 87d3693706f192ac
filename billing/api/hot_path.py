"""The hot small requests answered in raw ASGI, before FastAPI routes them.

Single events (``POST /v1/usage``) and pre-flight checks are most of the
traffic, and for one of them the framework between HttpFront and the endpoint
(Starlette's router and exception middleware, FastAPI's route, request and
dependency objects, StrictJsonBody) cost about as much CPU as the endpoint's
own work (py-spy of a worker under ``benchmarks/asgi_cpu.py``). A route
registered here (``register_hot_route``) is served by HttpFront
(billing/api/front.py) directly when the method and path match, so everything
HttpFront does (request id, config pin and header, metrics by route template,
body deadline and size limit, log line) still applies.

It answers the happy path only:

- the key is admitted by the same rule as the route's FastAPI dependency
  (``deps.check_key``; no ``Authorization`` header, or ``Bearer <key>``);
- the body is JSON by its content type (StrictJsonBody's rule), non-empty,
  and the route's ``decode`` accepts it (and the path parameters);
- the route's ``answer`` (the same function its FastAPI endpoint calls)
  builds the response; an error it raises (409 idempotency_conflict, 422
  unknown_endpoint, 503 database) is answered by the app's own exception
  handlers, the way Starlette's ExceptionMiddleware answers it.

Anything else (a wrong, missing or odd key, another content type, a body or
path the decoder declines, a client gone before the body arrived) goes to the
FastAPI app unchanged, with the body already read replayed, so every refusal
keeps its exact status, code and words. tests/api/test_hot_path.py holds the
two routes' answers together.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.responses import Response
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billing.api.config_version import pinned_snapshot
from billing.api.deps import Context, check_key
from billing.api.json_body import is_json
from billing.errors import BillingError
from billing.runtime import Runtime

# The route's decoder: (context, body, path parameters) -> its value, or None to
# decline (the FastAPI route then answers). No side effects: a declined request is
# served again.
Decode = Callable[[Context, bytes, dict[str, str]], Any]
# The route's answer from the decoded value: what its FastAPI endpoint answers.
Answer = Callable[[Context, Scope, Any], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class HotRoute:
    method: str
    route: APIRoute  # scope["route"]: the metrics' route template
    required_scope: str
    decode: Decode
    answer: Answer
    x_api_key: bool  # the key may come as x-api-key too (the gateway's Anthropic clients)


# method -> path -> route, for paths without parameters; templated ones matched in order.
_exact: dict[str, dict[str, HotRoute]] = {}
_templated: list[tuple[str, str, Any, HotRoute]] = []  # method, prefix, regex, route


def register_hot_route(
    route: BaseRoute, decode: Decode, answer: Answer, *, x_api_key: bool = False
) -> None:
    """Serve ``route``'s plain requests here: its one method and path, the scope its
    one scoped dependency requires (IngestContext, the gateway's key); any other
    dependency (the gateway's ``x-api-key``) only matters to requests declined here."""
    assert isinstance(route, APIRoute) and route.methods is not None
    (method,) = route.methods
    dependencies = route.dependant.dependencies
    found = [getattr(sub.call, "required_scope", None) for sub in dependencies]
    scopes = [scope for scope in found if isinstance(scope, str)]
    if len(scopes) != 1:
        raise TypeError(f"hot route {route.path}: one dependency with a required_scope")
    hot = HotRoute(method, route, scopes[0], decode, answer, x_api_key)
    path = route.path
    if "{" not in path:
        _exact.setdefault(method, {})[path] = hot
    else:
        regex, _, _ = compile_path(path)
        _templated.append((method, path.split("{", 1)[0], regex, hot))


def match(scope: Scope) -> tuple[HotRoute, dict[str, str]] | None:
    """The hot route for this request and its raw path parameters, if any."""
    method, path = scope["method"], scope["path"]
    by_path = _exact.get(method)
    hot = by_path.get(path) if by_path is not None else None
    if hot is not None:
        return hot, {}
    for wanted, prefix, regex, hot in _templated:
        if method == wanted and path.startswith(prefix):
            found = regex.match(path)
            if found is not None:
                return hot, found.groupdict()
    return None


_BEARER = b"Bearer "


def _bearer_key(value: bytes) -> str | None:
    """The key of ``Bearer <key>`` as HTTPBearer reads it; None for any other form
    (declined here, answered by the FastAPI route)."""
    key = value[len(_BEARER) :]
    if not value.startswith(_BEARER) or not key or key.strip() != key or b" " in key:
        return None
    return key.decode("latin-1")


class HotPath:
    """Serves the registered hot routes for HttpFront; ``app`` answers the rest."""

    def __init__(
        self, app: ASGIApp, runtime: Runtime, exception_handlers: Mapping[Any, Any]
    ) -> None:
        self.app = app
        self.runtime = runtime
        # As FastAPI builds its stack: 500 and Exception go to a ServerErrorMiddleware
        # around the ExceptionMiddleware of the others. HttpFront is outside the app's
        # own ServerErrorMiddleware (billing/main.py), so a hot route has its own.
        handled = {k: v for k, v in exception_handlers.items() if k not in (500, Exception)}
        unexpected = exception_handlers.get(500) or exception_handlers.get(Exception)
        self._answering = ServerErrorMiddleware(
            ExceptionMiddleware(self._raise, handlers=handled), handler=unexpected
        )

    def match(self, scope: Scope) -> tuple[HotRoute, dict[str, str]] | None:
        """The module's ``match``; a method so a test can turn the hot path off."""
        return match(scope)

    async def __call__(
        self,
        hot: tuple[HotRoute, dict[str, str]],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        route, params = hot
        context = self._admitted(scope, route.required_scope, route.x_api_key)
        if context is None:
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        body = await _read_body(receive, received)
        value = None if body is None else route.decode(context, body, params)
        if value is None:
            await self.app(scope, _replay(received, receive), send)
            return
        scope["route"] = route.route
        try:
            response = await route.answer(context, scope, value)
        except Exception as exc:
            # Answered as the app answers it (the exception raised again inside
            # Starlette's middlewares with the app's handlers); none is sent yet. An
            # unexpected one is answered 500 and raised on, as the app does.
            scope[_RAISED] = exc
            await self._answering(scope, receive, send)
            return
        await response(scope, receive, send)

    @staticmethod
    async def _raise(scope: Scope, receive: Receive, send: Send) -> None:
        raise scope.pop(_RAISED)

    def _admitted(self, scope: Scope, required_scope: str, x_api_key: bool) -> Context | None:
        """The request's context when its head is plain and its key admitted."""
        authorization: bytes | None = None
        content_type: bytes | None = None
        api_key: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:
                authorization = value
            elif name == b"content-type" and content_type is None:
                content_type = value
            elif name == b"x-api-key" and api_key is None:
                api_key = value
        if not is_json(content_type):
            return None
        key = None
        if authorization is not None:
            key = _bearer_key(authorization)
            if key is None:
                return None
        elif x_api_key and api_key:  # as the gateway's key dependency reads it
            key = api_key.decode("latin-1")
        client = scope.get("client")
        try:
            check_key(self.runtime, key, client[0] if client else None, required_scope)
        except BillingError:  # Unauthorized, Forbidden: the FastAPI route words them
            return None
        return Context(self.runtime, pinned_snapshot(scope, self.runtime))


_RAISED = "billing.hot_route_error"


async def _read_body(receive: Receive, received: list[Message]) -> bytes | None:
    """The whole body (each message kept in ``received`` for a replay); None when the
    client went away first or sent none."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return body or None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` as if nothing had been read yet."""
    pending = list(reversed(messages))

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay
