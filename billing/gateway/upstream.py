"""Where and how a call is sent: the endpoint's own baseURL, apiKey and headers.

Only configured base URLs are ever called: the route's ``{endpoint}`` picks a
configured endpoint and the path after it is one of the gateway's fixed routes,
so no request can choose the destination. The client's key never goes
upstream; the endpoint's ``apiKey`` does.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import orjson

from billing import __version__
from billing.config.env import UnresolvedValue
from billing.config.model import EndpointConfig
from billing.gateway.errors import ANTHROPIC, OPENAI, GatewayError

USER_PROVIDED = "user_provided"
ANTHROPIC_VERSION = "2023-06-01"
# Client headers the upstream needs to understand the request; nothing else is sent on
# (no Authorization, x-api-key, cookies, X-Billing-*, SDK telemetry).
FORWARDED_HEADERS = ("accept", "anthropic-version", "anthropic-beta", "openai-beta")
# Upstream answer headers worth passing back (request ids help support cases) -> the
# name they are returned under (billing's own X-Request-Id names the gateway's request).
RETURNED_HEADERS = {
    "request-id": "request-id",
    "x-request-id": "x-upstream-request-id",
    "openai-processing-ms": "openai-processing-ms",
    "retry-after": "retry-after",
}
_PLACEHOLDER = re.compile(r"\{\{(LIBRECHAT_[A-Z_]+)\}\}")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a call is for, from the X-Billing-* headers LibreChat fills per request."""

    user_id: str
    conversation_id: str | None = None
    message_id: str | None = None
    role: str | None = None

    def placeholders(self) -> dict[str, str]:
        return {
            "LIBRECHAT_USER_ID": self.user_id,
            "LIBRECHAT_USER_ROLE": self.role or "",
            "LIBRECHAT_BODY_CONVERSATIONID": self.conversation_id or "",
            "LIBRECHAT_BODY_MESSAGEID": self.message_id or "",
        }


@dataclass(frozen=True, slots=True)
class Target:
    """A configured endpoint, ready to call."""

    endpoint: EndpointConfig
    dialect: str  # openai | anthropic
    base_url: str
    headers: Mapping[str, str]  # auth and configured headers, placeholders not yet filled

    def url(self, path: str) -> str:
        """``path`` under the base URL: /chat/completions for OpenAI-compatible
        endpoints (baseURL ends in /v1, as in LibreChat), /v1/messages for
        Anthropic ones (baseURL is the API root)."""
        return self.base_url + path

    def request_headers(
        self, identity: Identity | None, client: Mapping[str, str]
    ) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "user-agent": f"billing-gateway/{__version__}",
            # Streams are read as they arrive: no compression to undo on the way.
            "accept-encoding": "identity",
        }
        for name in FORWARDED_HEADERS:
            value = client.get(name)
            if value is not None:
                headers[name] = value
        if self.dialect == ANTHROPIC:
            headers.setdefault("anthropic-version", ANTHROPIC_VERSION)
        values = identity.placeholders() if identity is not None else {}
        for name, value in self.headers.items():
            headers[name.lower()] = fill_placeholders(value, values) if "{{" in value else value
        return headers


def fill_placeholders(text: str, values: Mapping[str, str]) -> str:
    """``{{LIBRECHAT_USER_ID}}`` and friends as LibreChat fills them; a placeholder the
    gateway cannot know (e.g. {{LIBRECHAT_USER_EMAIL}}) becomes empty, never sent as written."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), ""), text)


def target_for(endpoint: EndpointConfig, dialect: str) -> Target:
    """The endpoint as the gateway calls it; a clear GatewayError when it cannot be."""
    name = endpoint.name
    if endpoint.kind != "custom":
        raise GatewayError(
            404,
            "unsupported_endpoint",
            f"endpoint {name!r} is a built-in endpoint; the gateway forwards custom endpoints"
            " (endpoints.custom with baseURL and apiKey)",
            dialect,
        )
    provider = ANTHROPIC if endpoint.provider == "anthropic" else OPENAI
    if provider != dialect:
        route = "/v1/messages" if provider == ANTHROPIC else "/v1/chat/completions"
        kind = "an Anthropic" if provider == ANTHROPIC else "an OpenAI-compatible"
        raise GatewayError(
            404,
            "unsupported_route",
            f"endpoint {name!r} is {kind} endpoint: call {route} on it",
            dialect,
        )
    try:
        base_url = endpoint.require_base_url()
        api_key = endpoint.require_api_key()
        configured = endpoint.require_headers()
    except UnresolvedValue as exc:
        raise GatewayError(500, "endpoint_misconfigured", str(exc), dialect) from None
    if base_url == USER_PROVIDED or api_key == USER_PROVIDED:
        which = "baseURL" if base_url == USER_PROVIDED else "apiKey"
        raise GatewayError(
            400,
            "user_provided_not_supported",
            f"endpoint {name!r} has {which}: user_provided; the gateway calls upstreams with"
            " the config's own values: set a real one in billing's config",
            dialect,
        )
    if not base_url or not base_url.startswith(("http://", "https://")):
        raise GatewayError(
            500,
            "endpoint_misconfigured",
            f"endpoint {name!r}: baseURL must be an http:// or https:// URL",
            dialect,
        )
    headers: dict[str, str] = {}
    if api_key:
        if provider == ANTHROPIC:
            headers["x-api-key"] = api_key
        else:
            headers["authorization"] = f"Bearer {api_key}"
    headers.update(configured)
    return Target(endpoint, provider, base_url.rstrip("/"), headers)


def apply_params(body: dict[str, Any], endpoint: EndpointConfig) -> None:
    """addParams and dropParams, as LibreChat applies them to every request."""
    extra = endpoint.extra
    add = extra.get("addParams")
    if isinstance(add, Mapping):
        body.update(add)
    drop = extra.get("dropParams")
    if drop:
        for name in drop:
            body.pop(name, None)


def drops(endpoint: EndpointConfig, name: str) -> bool:
    return name in (endpoint.extra.get("dropParams") or ())


def plain_number(value: Decimal) -> int | float:
    """A config parameter number (addParams: temperature, top_p, ...; never money),
    read exactly as Decimal, as the JSON or YAML number other programs take."""
    return int(value) if value == value.to_integral_value() else float(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return plain_number(value)
    raise TypeError(f"cannot send {type(value).__name__} upstream")


def encode(body: Any) -> bytes:
    return orjson.dumps(body, default=_json_default)


# What a failed upstream call raises: a timeout (answered 504), or any other
# failure to connect, send or read (answered 502).
TIMEOUT_ERRORS: tuple[type[BaseException], ...] = (TimeoutError,)
UPSTREAM_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError)


class UpstreamResponse:
    """An upstream answer whose head has arrived; its body is read (or streamed) by
    the caller, who closes it."""

    __slots__ = ("_response", "headers", "status_code")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status_code = response.status
        self.headers: Mapping[str, str] = response.headers  # case-insensitive

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (decoded only if the upstream compressed it
        although ``accept-encoding: identity`` was asked)."""
        return self._response.content.iter_any()

    async def read(self) -> bytes:
        return await self._response.read()

    async def aclose(self) -> None:
        """Back to the pool when read to its end; mid-body, the connection is closed,
        which cancels the upstream's work on the call."""
        if self._response.content.is_eof():
            self._response.release()
        else:
            self._response.close()


class UpstreamClient:
    """One per worker (made in the serving loop): pooled keep-alive connections.

    No cookie jar (an upstream's cookie must never follow one user's call into
    the next user's), no redirects, no proxy or .netrc from the environment.
    aiohttp rather than httpx: a fifth of the client CPU per call (measured with
    the gateway benchmark's upstream).
    """

    def __init__(self, connect_timeout: float, read_timeout: float) -> None:
        self.session = aiohttp.ClientSession(
            # An idle connection is dropped after 4.5 s (httpx: 5 s): before the idle
            # timeout of most servers (uvicorn's is 5 s), so a reused one is rarely
            # one the upstream is closing.
            connector=aiohttp.TCPConnector(limit=1000, keepalive_timeout=4.5),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            # connect covers the wait for a pooled connection too; sock_read is per read.
            timeout=aiohttp.ClientTimeout(
                total=None, connect=connect_timeout, sock_read=read_timeout
            ),
            # The request's own headers say it all (request_headers).
            skip_auto_headers=("Accept-Encoding", "User-Agent"),
        )

    async def send(
        self, method: str, url: str, headers: Mapping[str, str], content: bytes | None = None
    ) -> UpstreamResponse:
        """The answer's head; raises one of UPSTREAM_ERRORS when there is none."""
        response = await self.session.request(
            method, url, headers=headers, data=content, allow_redirects=False
        )
        return UpstreamResponse(response)

    async def aclose(self) -> None:
        await self.session.close()
