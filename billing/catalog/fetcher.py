"""Model lists of custom endpoints with ``models.fetch: true``.

``GET {baseURL}/models`` (OpenAI-compatible: ``{"data": [{"id": ...}]}``)
with the endpoint's credentials: its configured ``Authorization`` header if
any, else ``apiKey`` as a Bearer token, plus its other headers (``${ENV}``
already resolved by the config loader; while one is unset nothing is sent and
the error names the variable). ``userIdQuery`` adds ``?user=<id>``
when a user id is given. A ``user_provided`` baseURL or apiKey is never
fetched: configured credentials must not go to an address a user chose, and
we hold no user's key. On any failure or timeout the list is
``models.default``. Results are cached per endpoint (and user, with
userIdQuery): successes for the TTL, failures briefly so a dead server is
not asked on every request. Thread-safe; one fetch per key at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from billing.config.env import UnresolvedValue
from billing.config.model import EndpointConfig

USER_PROVIDED = "user_provided"
MAX_MODELS = 5_000
MAX_NAME = 200
FAILURE_TTL_SECONDS = 30.0
ModelSource = Literal["config", "fetched", "fallback"]


@dataclass(frozen=True, slots=True)
class ModelList:
    models: tuple[str, ...]
    source: ModelSource  # config: models.default; fetched; fallback: default after a failure
    error: str | None = None


class FetchFailed(Exception):
    pass


def request_headers(endpoint: EndpointConfig) -> dict[str, str]:
    """The endpoint's headers; apiKey as Bearer unless Authorization is configured.

    Raises UnresolvedValue when a value it needs has an unset ``${VAR}``.
    """
    headers = endpoint.require_headers()
    has_auth = any(name.lower() == "authorization" for name in headers)
    if not has_auth and endpoint.api_key and endpoint.api_key != USER_PROVIDED:
        headers["Authorization"] = f"Bearer {endpoint.require_api_key()}"
    return headers


def parse_model_ids(payload: Any) -> tuple[str, ...]:
    """Ids from ``{"data": [{"id": ...}]}``, ``{"models": [...]}`` or a plain list."""
    items = payload
    if isinstance(payload, dict):
        items = payload.get("data", payload.get("models"))
    if not isinstance(items, list):
        raise FetchFailed("response has no model list (expected {'data': [...]})")
    names: list[str] = []
    for item in items[:MAX_MODELS]:
        name = item.get("id") if isinstance(item, dict) else item
        if isinstance(name, str) and 0 < len(name) <= MAX_NAME and name not in names:
            names.append(name)
    if not names:
        raise FetchFailed("response lists no models")
    return tuple(names)


def should_fetch(endpoint: EndpointConfig) -> bool:
    return (
        endpoint.kind == "custom"
        and endpoint.fetch_models
        and endpoint.provider != "anthropic"  # LibreChat does not fetch these either
        and bool(endpoint.base_url)
        and endpoint.base_url != USER_PROVIDED
        and endpoint.api_key != USER_PROVIDED
    )


class ModelListFetcher:
    def __init__(
        self,
        *,
        timeout_seconds: float = 3.0,
        ttl_seconds: float = 600.0,
        failure_ttl_seconds: float = FAILURE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.ttl_seconds = ttl_seconds
        self.failure_ttl_seconds = min(failure_ttl_seconds, ttl_seconds)
        self._clock = clock
        self._cache: dict[tuple[Any, ...], tuple[float, ModelList]] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[Any, ...], threading.Lock] = {}

    def models(self, endpoint: EndpointConfig, user_id: str | None = None) -> ModelList:
        if not should_fetch(endpoint):
            return ModelList(endpoint.models, "config")
        user = user_id if endpoint.user_id_query else None
        key = (
            endpoint.name,
            endpoint.base_url,
            endpoint.api_key,
            tuple(sorted(endpoint.headers.items())),
            user,
        )
        cached = self._fresh(key)
        if cached is not None:
            return cached
        with self._key_lock(key):  # one fetch per key; the others wait and reuse it
            cached = self._fresh(key)
            if cached is not None:
                return cached
            result = self._fetch(endpoint, user)
            ttl = self.ttl_seconds if result.source == "fetched" else self.failure_ttl_seconds
            with self._lock:
                self._cache[key] = (self._clock() + ttl, result)
            return result

    def _fresh(self, key: tuple[Any, ...]) -> ModelList | None:
        with self._lock:
            entry = self._cache.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        return None

    def _key_lock(self, key: tuple[Any, ...]) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def _fetch(self, endpoint: EndpointConfig, user: str | None) -> ModelList:
        try:
            base_url = endpoint.require_base_url()
            headers = request_headers(endpoint)
        except UnresolvedValue as exc:  # nothing is sent; LibreChat's list is the default too
            return ModelList(endpoint.models, "fallback", str(exc))
        assert base_url is not None
        url = base_url.rstrip("/") + "/models"
        params: Mapping[str, str] = {"user": user} if user else {}
        try:
            response = httpx.get(
                url,
                headers=headers,
                params=params,
                timeout=self.timeout_seconds,
                follow_redirects=False,  # credentials go to the configured host only
            )
            if response.status_code != 200:
                raise FetchFailed(f"HTTP {response.status_code} from {url}")
            models = parse_model_ids(response.json())
        except httpx.TimeoutException:
            return ModelList(
                endpoint.models, "fallback", f"timed out after {self.timeout_seconds} s"
            )
        except (httpx.HTTPError, FetchFailed, ValueError) as exc:
            message = str(exc) or type(exc).__name__
            return ModelList(endpoint.models, "fallback", message[:300])
        return ModelList(models, "fetched")
