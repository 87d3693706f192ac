"""One gateway call: check, hold, forward, pass the answer back, record, settle.

The order matters for money: the hold comes before the upstream is called (a
user who cannot afford the estimate never reaches it), the record names the
hold so it settles it at the real cost, and a call that charged nothing (an
upstream error, timeout or refused connection) releases it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from billing import metrics
from billing.api.config_version import pinned_snapshot
from billing.errors import UnknownEndpoint
from billing.gateway import metering
from billing.gateway.dialects import Dialect
from billing.gateway.errors import ANTHROPIC, GatewayError
from billing.gateway.estimate import input_tokens, tokens_of_chars
from billing.gateway.relay import Relay, RelayResponse
from billing.gateway.upstream import (
    RETURNED_HEADERS,
    TIMEOUT_ERRORS,
    UPSTREAM_ERRORS,
    Identity,
    Target,
    UpstreamClient,
    UpstreamResponse,
    apply_params,
    drops,
    encode,
    target_for,
)
from billing.runtime import ConfigSnapshot, Runtime

log = logging.getLogger("billing.gateway")

EVENT_ID_HEADER = "X-Billing-Event-Id"
USER_HEADER = "x-billing-user-id"
CLIENT_CLOSED = 499  # the metrics' status of a stream the client abandoned (nginx's code)
_MAX_ID = 200


def upstream_client(request: Request) -> UpstreamClient:
    """The worker's pooled upstream client, made on first use (in the serving loop)."""
    state = request.app.state
    client: UpstreamClient | None = getattr(state, "gateway_client", None)
    if client is None:
        settings = state.runtime.settings
        client = UpstreamClient(
            settings.gateway_connect_timeout_seconds, settings.gateway_timeout_seconds
        )
        state.gateway_client = client
    return client


async def close_upstream_client(state: Any) -> None:
    client: UpstreamClient | None = getattr(state, "gateway_client", None)
    if client is not None:
        state.gateway_client = None
        await client.aclose()


def _header_id(headers: Mapping[str, str], name: str, dialect: str) -> str | None:
    value = headers.get(name)
    if value is None or value == "":
        return None
    if value.startswith("{{LIBRECHAT_"):
        raise GatewayError(
            400,
            "invalid_request",
            f"{name}: got the unfilled placeholder {value!r}; LibreChat fills it only in a"
            " custom endpoint's headers (billing gateway librechat-yaml prints them)",
            dialect,
        )
    if len(value) > _MAX_ID:
        raise GatewayError(400, "invalid_request", f"{name}: at most {_MAX_ID} characters", dialect)
    return value


def identity_of(headers: Mapping[str, str], dialect: str) -> Identity:
    user_id = _header_id(headers, USER_HEADER, dialect)
    if user_id is None:
        raise GatewayError(
            400,
            "invalid_request",
            "X-Billing-User-Id: required; send the user's id (LibreChat: "
            '"X-Billing-User-Id": "{{LIBRECHAT_USER_ID}}" in the endpoint\'s headers)',
            dialect,
        )
    return Identity(
        user_id,
        _header_id(headers, "x-billing-conversation-id", dialect),
        _header_id(headers, "x-billing-message-id", dialect),
        _header_id(headers, "x-billing-user-role", dialect),
    )


def resolve_target(snapshot: ConfigSnapshot, name: str, dialect: str) -> Target:
    endpoint = snapshot.config.endpoint(name)
    if endpoint is None:
        customs = [e.name for e in snapshot.config.endpoints.values() if e.kind == "custom"]
        detail = UnknownEndpoint.named(name, customs).detail
        raise GatewayError(404, "unknown_endpoint", detail, dialect)
    return target_for(endpoint, dialect)


def _json_body(raw: bytes, dialect: str) -> dict[str, Any]:
    if not raw:
        raise GatewayError(400, "invalid_request", "body: required (a JSON object)", dialect)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(400, "invalid_request", f"body: invalid JSON: {exc}", dialect) from None
    if not isinstance(body, dict):
        raise GatewayError(400, "invalid_request", "body: must be a JSON object", dialect)
    return body


@dataclass(slots=True)
class Call:
    """What one call knows, for the record, the metrics and its log line."""

    runtime: Runtime
    snapshot: ConfigSnapshot
    dialect: Dialect
    target: Target
    identity: Identity
    model: str
    started: float
    stream: bool = False
    held: metering.Hold | None = None
    event_id: str | None = None
    sent: float = 0.0  # when the upstream request went out
    first_byte: float | None = None
    upstream_done: float | None = None
    answered: float | None = None  # the answer (or its last byte) handed to the server
    status: int = 0
    outcome: str = ""
    estimated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.target.endpoint.name

    def done(self, status: int, outcome: str) -> None:
        """Metrics and the call's log line (no bodies, no keys).

        The overhead is the gateway's time on the answer's path: until the upstream
        request went out, and from the upstream's last byte until the answer was
        handed on (``answered``; the record after it is not on that path)."""
        self.status, self.outcome = status, outcome
        now = time.perf_counter()
        upstream = None if self.upstream_done is None else self.upstream_done - self.sent
        if upstream is None:
            overhead = now - self.started
        else:
            before = (self.sent or now) - self.started
            after = (self.answered or now) - (self.upstream_done or now)
            overhead = before + max(0.0, after)
        metrics.record_gateway_call(
            self.snapshot.config,
            self.endpoint,
            self.model,
            status,
            overhead=overhead,
            upstream=upstream,
            first_byte=self.first_byte,
            estimated=self.estimated,
        )
        if not log.isEnabledFor(logging.INFO):
            return  # the line's fields are not built for nothing (a few us a call)
        log.info(
            "gateway %s %s %s %s",
            self.endpoint,
            self.dialect.route,
            status,
            outcome,
            extra={
                "fields": {
                    "gateway_endpoint": self.endpoint,
                    "route": self.dialect.route,
                    "model": self.model,
                    "user_id": self.identity.user_id,
                    "stream": self.stream,
                    "status": status,
                    "outcome": outcome,
                    "event_id": self.event_id,
                    "reservation_id": self.held.reservation_id if self.held else None,
                    "usage": "estimated" if self.estimated else "provider",
                    "upstream_ms": None if upstream is None else round(upstream * 1000, 2),
                    "first_byte_ms": None
                    if self.first_byte is None
                    else round(self.first_byte * 1000, 2),
                    "overhead_ms": round(overhead * 1000, 3),
                    **self.extra,
                }
            },
        )


async def forward(request: Request, endpoint_name: str, dialect: Dialect) -> Response:
    return await forward_body(request, endpoint_name, dialect, await request.body())


async def forward_body(
    request: Request, endpoint_name: str, dialect: Dialect, raw: bytes
) -> Response:
    """``forward`` with the request's body already read (billing/gateway/router.py's
    hot route reads it before the app does)."""
    started = time.perf_counter()
    errors = dialect.errors
    runtime: Runtime = request.app.state.runtime
    snapshot = pinned_snapshot(request.scope, runtime)
    target = resolve_target(snapshot, endpoint_name, errors)
    identity = identity_of(request.headers, errors)
    body = _json_body(raw, errors)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise GatewayError(400, "invalid_request", "model: required (a model name)", errors)
    endpoint = target.endpoint
    prompt = input_tokens(body, dialect.input_fields)
    completion = dialect.completion_estimate(body, runtime.settings.gateway_default_max_tokens)
    apply_params(body, endpoint)
    stream = dialect.reader is not None and body.get("stream") is True
    client_wants_usage = stream and dialect.prepare_stream(
        body, not drops(endpoint, "stream_options")
    )
    call = Call(runtime, snapshot, dialect, target, identity, model, started, stream)
    holding = time.perf_counter()
    book = request.app.state.gateway_leases
    call.held = await metering.hold(
        runtime, book, snapshot, identity, endpoint.name, model, prompt, completion, errors
    )
    call.extra["hold_ms"] = round((time.perf_counter() - holding) * 1000, 3)
    client = upstream_client(request)
    try:
        url = target.url(dialect.upstream_path)
        headers = target.request_headers(identity, request.headers)
        content = encode(body)
        call.sent = time.perf_counter()
        upstream = await client.send("POST", url, headers, content)
    except TIMEOUT_ERRORS:
        return await _failed(call, 504, "upstream_timeout", "the upstream did not answer in time")
    except UPSTREAM_ERRORS as exc:
        return await _failed(call, 502, "upstream_unreachable", _unreachable(exc))
    except BaseException:
        # Not sent (e.g. a header value that cannot be encoded): free the hold now
        # rather than at its expiry, then answer as any unexpected error.
        await metering.release(runtime, call.held)
        raise
    call.first_byte = time.perf_counter() - call.sent
    if not 200 <= upstream.status_code < 300:
        return await _passed_error(call, upstream)
    call.event_id = metering.new_event_id()
    content_type = upstream.headers.get("content-type", "")
    headers = _returned_headers(upstream.headers, call.event_id)
    if stream and content_type.startswith("text/event-stream"):
        assert dialect.reader is not None
        relay = Relay(upstream, dialect.reader(client_wants_usage), errors, _stream_finished(call))
        return RelayResponse(relay, headers, content_type)
    return await _answered(call, upstream, headers, content_type)


def _unreachable(exc: BaseException) -> str:
    return f"could not reach the upstream ({type(exc).__name__})"


def returned_headers(upstream: Mapping[str, str]) -> dict[str, str]:
    return {to: upstream[name] for name, to in RETURNED_HEADERS.items() if name in upstream}


def _returned_headers(upstream: Mapping[str, str], event_id: str) -> dict[str, str]:
    headers = returned_headers(upstream)
    headers[EVENT_ID_HEADER] = event_id
    return headers


async def _failed(call: Call, status: int, code: str, message: str) -> Response:
    """No answer from the upstream: nothing is charged, the hold is released."""
    call.upstream_done = time.perf_counter()
    assert call.held is not None
    await metering.release(call.runtime, call.held)
    call.done(status, code)
    message = f"{message} (endpoint {call.endpoint!r}); nothing was charged"
    return GatewayError(status, code, message, call.dialect.errors).response()


async def _passed_error(call: Call, upstream: UpstreamResponse) -> Response:
    """The upstream refused the call: its status and body go to the client unchanged,
    nothing is charged and the hold is released."""
    try:
        content = await upstream.read()
    except UPSTREAM_ERRORS:
        content = b""
    finally:
        await upstream.aclose()
    call.upstream_done = time.perf_counter()
    assert call.held is not None
    await metering.release(call.runtime, call.held)
    call.done(upstream.status_code, "upstream_error")
    headers = returned_headers(upstream.headers)
    return Response(
        content,
        upstream.status_code,
        headers=headers,
        media_type=upstream.headers.get("content-type", "application/json"),
    )


async def _answered(
    call: Call, upstream: UpstreamResponse, headers: dict[str, str], content_type: str
) -> Response:
    """A whole answer: record its usage (settling the hold), then pass it on."""
    try:
        content = await upstream.read()
    except TIMEOUT_ERRORS:
        return await _failed(call, 504, "upstream_timeout", "the upstream answer stopped arriving")
    except UPSTREAM_ERRORS as exc:
        return await _failed(call, 502, "upstream_unreachable", _unreachable(exc))
    finally:
        await upstream.aclose()
    call.upstream_done = time.perf_counter()
    answer: Any = None
    if content_type.startswith("application/json") or content[:1] == b"{":
        try:
            answer = orjson.loads(content)
        except orjson.JSONDecodeError:
            answer = None
    usage = call.dialect.usage_of(answer)
    estimated = None
    if usage is None:
        call.estimated = True
        assert call.held is not None
        estimated = (call.held.prompt_tokens, tokens_of_chars(call.dialect.output_chars(answer)))
    recorded = _record_soon(call, "message", usage, estimated)
    call.answered = time.perf_counter()
    # The answer goes out while its record is prepared and commits: the hold keeps the
    # credit until the event settles it, and X-Billing-Event-Id already names the event.
    # The server finishes the background task before it stops (graceful shutdown).
    return Response(
        content,
        upstream.status_code,
        headers=headers,
        media_type=content_type,
        background=BackgroundTask(_recorded, call, recorded, upstream.status_code),
    )


async def _recorded(call: Call, recorded: asyncio.Future[Future[Any] | None], status: int) -> None:
    done = await recorded
    if done is not None:
        assert call.held is not None
        await metering.wait_recorded(done, call.event_id or "", call.held)
    call.done(status, "recorded")


def _record_soon(
    call: Call, context: str, usage: dict[str, Any] | None, estimated: tuple[int, int] | None
) -> asyncio.Future[Future[Any] | None]:
    """``_record`` as a callback of the event loop, which runs once the answer has been
    handed to the server: the record's validation and pricing are off the answer's
    path, and a callback, unlike a task, runs even when the call is cancelled (a call
    cut short still records). The future gives ``_record``'s answer."""
    loop = asyncio.get_running_loop()
    queued: asyncio.Future[Future[Any] | None] = loop.create_future()

    def prepare() -> None:
        done = _record(call, context, usage, estimated)
        if not queued.cancelled():
            queued.set_result(done)

    loop.call_soon(prepare)
    return queued


def _record(
    call: Call, context: str, usage: dict[str, Any] | None, estimated: tuple[int, int] | None
) -> Future[Any] | None:
    """Queue the call's usage event on the group commit (None: it could not be)."""
    assert call.held is not None and call.event_id is not None
    try:
        return metering.submit_record(
            call.runtime,
            call.snapshot,
            event_id=call.event_id,
            identity=call.identity,
            endpoint=call.endpoint,
            model=call.model,
            held=call.held,
            context=context,
            usage_format=call.dialect.usage_format,
            provider_usage=usage,
            estimated=estimated,
        )
    except Exception:
        # E.g. the commit queue is full (503): the answer still goes out; the hold expires.
        log.exception("gateway: usage event %s was not recorded", call.event_id)
        return None


def _stream_finished(call: Call) -> Any:
    async def finish(relay: Relay) -> None:
        """Record the stream: complete with the provider's usage, or cut short
        (client gone, upstream broke off) as ``incomplete``."""
        call.upstream_done = call.answered = relay.ended_at or time.perf_counter()
        reader = relay.reader
        complete = reader.finished and relay.upstream_error is None and not relay.client_gone
        usage = reader.usage
        assert call.held is not None
        streamed = tokens_of_chars(reader.chars)
        estimated = (call.held.prompt_tokens, streamed)
        if usage is not None and not complete and call.dialect.errors == ANTHROPIC:
            # message_start counts the input exactly; the output is what was streamed.
            reported = usage.get("output_tokens")
            output = max(reported if isinstance(reported, int) else 0, streamed)
            usage = {**usage, "output_tokens": output}
        call.estimated = usage is None
        context = metering.MESSAGE if complete else metering.INCOMPLETE
        done = _record(call, context, usage, estimated)
        if done is not None:
            await metering.wait_recorded(done, call.event_id or "", call.held)
        if relay.upstream_error is not None:
            call.extra["upstream_error"] = relay.upstream_error
        status = CLIENT_CLOSED if relay.client_gone else relay.upstream.status_code
        call.done(status, "recorded" if complete else "incomplete")

    return finish


async def models(request: Request, endpoint_name: str, dialect: str) -> Response:
    """The endpoint's models in the provider's list shape: its upstream's list when
    the config says models.fetch, else the configured ones."""
    runtime: Runtime = request.app.state.runtime
    snapshot = pinned_snapshot(request.scope, runtime)
    endpoint = snapshot.config.endpoint(endpoint_name)
    provider = ANTHROPIC if endpoint is not None and endpoint.provider == "anthropic" else dialect
    target = resolve_target(snapshot, endpoint_name, provider)
    if target.endpoint.fetch_models and provider != ANTHROPIC:
        client = upstream_client(request)
        headers = target.request_headers(None, request.headers)
        try:
            upstream = await client.send("GET", target.url("/models"), headers)
            try:
                content = await upstream.read()
            finally:
                await upstream.aclose()
        except TIMEOUT_ERRORS:
            raise GatewayError(
                504, "upstream_timeout", "the upstream did not answer in time"
            ) from None
        except UPSTREAM_ERRORS as exc:
            raise GatewayError(502, "upstream_unreachable", _unreachable(exc)) from None
        return Response(
            content,
            upstream.status_code,
            media_type=upstream.headers.get("content-type", "application/json"),
        )
    names = list(dict.fromkeys([*target.endpoint.models, *target.endpoint.token_config]))
    if provider == ANTHROPIC:
        data: list[dict[str, Any]] = [
            {
                "type": "model",
                "id": name,
                "display_name": name,
                "created_at": "1970-01-01T00:00:00Z",
            }
            for name in names
        ]
        body: dict[str, Any] = {
            "data": data,
            "has_more": False,
            "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None,
        }
    else:
        body = {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": endpoint_name}
                for name in names
            ],
        }
    return Response(orjson.dumps(body), media_type="application/json")
