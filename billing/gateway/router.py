"""The gateway's routes: /gateway/{endpoint}/v1/... (scope ``gateway``).

The request and answer bodies are the provider's own (OpenAI's or Anthropic's
API), passed through; they are not described here. Errors of the gateway
itself come in the provider's error shape too (billing/gateway/errors.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import APIKeyHeader
from fastapi.security.base import SecurityBase
from starlette.responses import Response
from starlette.types import Scope

from billing.api.deps import Context, _bearer, authorize_key
from billing.api.direct_route import DirectRoute
from billing.api.hot_path import register_hot_route
from billing.errors import BillingError
from billing.gateway import proxy
from billing.gateway.dialects import CHAT_COMPLETIONS, EMBEDDINGS, MESSAGES, RESPONSES, Dialect
from billing.gateway.errors import OPENAI, GatewayError, dialect_of_path

router = APIRouter(tags=["gateway"], route_class=DirectRoute)

_x_api_key = APIKeyHeader(
    name="x-api-key",
    auto_error=False,
    description="API key with the gateway (or admin) scope, as Anthropic clients send it",
)


class _GatewayKey(SecurityBase):
    """The key as ``Authorization: Bearer`` (OpenAI clients) or ``x-api-key``
    (Anthropic clients); refusals in the provider's error shape.

    Documented as the bearer scheme and read from the request alone, so the
    routes are DirectRoutes (FastAPI's general dependency solving, two security
    sub-dependencies and the query string, cost more than the rest of routing).
    ``_x_api_key`` stays a route dependency of its own: /openapi.json names both
    schemes, in this order."""

    def __init__(self) -> None:
        self.model = _bearer.model
        self.scheme_name = _bearer.scheme_name
        self.required_scope = "gateway"  # read by the access tests

    async def __call__(self, request: Request) -> None:
        bearer = await _bearer(request)
        key = bearer.credentials if bearer else request.headers.get("x-api-key") or None
        try:
            authorize_key(request, key, "gateway")
        except BillingError as exc:
            raise GatewayError.of(exc, dialect_of_path(request.url.path)) from None


GATEWAY_KEY = [Depends(_GatewayKey()), Depends(_x_api_key)]

EndpointName = Annotated[
    str,
    Path(
        description="a custom endpoint's name in billing's config (endpoints.custom[].name);"
        " the call goes to its baseURL",
        examples=["Mistral"],
    ),
]


def _header(name: str, description: str, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": {"type": "string", "maxLength": 200},
    }


_IDENTITY = [
    _header(
        "X-Billing-User-Id",
        "the user to charge (LibreChat: {{LIBRECHAT_USER_ID}})",
        required=True,
    ),
    _header(
        "X-Billing-Conversation-Id", "recorded with the usage ({{LIBRECHAT_BODY_CONVERSATIONID}})"
    ),
    _header("X-Billing-Message-Id", "recorded with the usage ({{LIBRECHAT_BODY_MESSAGEID}})"),
    _header("X-Billing-User-Role", "fills {{LIBRECHAT_USER_ROLE}} in the endpoint's headers"),
]
# Both error shapes have "error"; 408 and 413 come from the body limits in billing's shape.
_PROVIDER_ERROR = {"type": "object", "required": ["error"]}


def _responses(answer: str) -> dict[int | str, dict[str, Any]]:
    error = {"application/json": {"schema": _PROVIDER_ERROR}}
    documented: dict[int | str, dict[str, Any]] = {
        200: {
            "description": answer,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "default": {"description": "the upstream's own error, passed through", "content": error},
    }
    for status, what in (
        (400, "invalid_request: the body, model or X-Billing-* headers"),
        (401, "unauthorized: missing or invalid key"),
        (402, "insufficient_balance: the user cannot afford the estimate; upstream not called"),
        (403, "forbidden: the key lacks the gateway scope"),
        (404, "unknown_endpoint, unsupported_endpoint (built-in) or unsupported_route"),
        (500, "endpoint_misconfigured: e.g. an unset ${VAR} in apiKey, baseURL or headers"),
        (502, "upstream_unreachable: the connection was refused; nothing charged"),
        (503, "unavailable: the database"),
        (504, "upstream_timeout: the upstream did not answer in time; nothing charged"),
    ):
        documented[status] = {"description": what + " (provider error shape)", "content": error}
    return documented


def _post(dialect: Dialect, summary: str, answer: str) -> None:
    async def call(request: Request, endpoint: EndpointName) -> Response:
        return await proxy.forward(request, endpoint, dialect)

    async def hot_answer(_: Context, scope: Scope, value: tuple[bytes, str]) -> Response:
        body, endpoint = value
        return await proxy.forward_body(Request(scope), endpoint, dialect, body)

    call.__doc__ = (
        f"{summary} The body is the provider's request, passed through; the answer (or its"
        " server-sent events) is the provider's, with the usage event's id in"
        " X-Billing-Event-Id."
    )
    router.add_api_route(
        "/gateway/{endpoint}" + dialect.route,
        call,
        methods=["POST"],
        name=f"gateway{dialect.route.replace('/', '_')}",
        dependencies=GATEWAY_KEY,
        responses=_responses(answer),
        openapi_extra={"parameters": _IDENTITY},
        response_class=Response,
    )
    # A call with a JSON body and an admitted key (Bearer, or x-api-key as Anthropic
    # clients send it) is served by HttpFront directly (billing/api/hot_path.py): the
    # framework between them cost ~0.18 ms of the event loop's CPU a call, about a
    # fifth of the gateway's added latency.
    register_hot_route(router.routes[-1], _hot_decode, hot_answer, x_api_key=True)


def _hot_decode(_: Context, body: bytes, params: dict[str, str]) -> tuple[bytes, str]:
    return body, params["endpoint"]


_post(
    CHAT_COMPLETIONS,
    "OpenAI chat completions through the gateway (OpenAI-compatible endpoints).",
    "the chat completion (JSON, or text/event-stream when stream is true)",
)
_post(
    RESPONSES,
    "OpenAI Responses API through the gateway (OpenAI-compatible endpoints).",
    "the response (JSON, or text/event-stream when stream is true)",
)
_post(EMBEDDINGS, "OpenAI embeddings through the gateway.", "the embeddings")
_post(
    MESSAGES,
    "Anthropic messages through the gateway (endpoints with provider: anthropic).",
    "the message (JSON, or text/event-stream when stream is true)",
)


@router.get(
    "/gateway/{endpoint}/v1/models",
    dependencies=GATEWAY_KEY,
    responses=_responses("the endpoint's models in the provider's list shape"),
    response_class=Response,
)
async def gateway_models(request: Request, endpoint: EndpointName) -> Response:
    """The endpoint's models: its upstream's list with models.fetch, else the configured ones."""
    return await proxy.models(request, endpoint, OPENAI)
