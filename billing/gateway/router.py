"""The gateway's routes: /gateway/{endpoint}/v1/... (scope ``gateway``).

The request and answer bodies are the provider's own (OpenAI's or Anthropic's
API), passed through; they are not described here. Errors of the gateway
itself come in the provider's error shape too (billing/gateway/errors.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials
from starlette.responses import Response

from billing.api.deps import _bearer, authorize_key
from billing.errors import BillingError
from billing.gateway import proxy
from billing.gateway.dialects import CHAT_COMPLETIONS, EMBEDDINGS, MESSAGES, RESPONSES, Dialect
from billing.gateway.errors import OPENAI, GatewayError, dialect_of_path

router = APIRouter(tags=["gateway"])

_x_api_key = APIKeyHeader(
    name="x-api-key",
    auto_error=False,
    description="API key with the gateway (or admin) scope, as Anthropic clients send it",
)


async def gateway_scope(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_x_api_key)],
) -> None:
    """The key as ``Authorization: Bearer`` (OpenAI clients) or ``x-api-key``
    (Anthropic clients); refusals in the provider's error shape."""
    try:
        authorize_key(request, bearer.credentials if bearer else api_key, "gateway")
    except BillingError as exc:
        raise GatewayError.of(exc, dialect_of_path(request.url.path)) from None


gateway_scope.required_scope = "gateway"  # type: ignore[attr-defined]  # read by the access tests

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
        dependencies=[Depends(gateway_scope)],
        responses=_responses(answer),
        openapi_extra={"parameters": _IDENTITY},
        response_class=Response,
    )


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
    dependencies=[Depends(gateway_scope)],
    responses=_responses("the endpoint's models in the provider's list shape"),
    response_class=Response,
)
async def gateway_models(request: Request, endpoint: EndpointName) -> Response:
    """The endpoint's models: its upstream's list with models.fetch, else the configured ones."""
    return await proxy.models(request, endpoint, OPENAI)
