"""GET /metrics and the duration of every request (timed by billing/api/front.py)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from starlette.routing import compile_path
from starlette.types import Scope

from billing import metrics
from billing.multiprocess import MULTIPROC_ENV

router = APIRouter(tags=["health"])
USAGE_ROUTE = "/v1/usage"


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
def prometheus_metrics() -> Response:
    """Prometheus exposition (no key needed); aggregated over all workers."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """Duration by method, route template and status.

    The label is the matched route's path template (``/v1/balances/{user_id}``),
    never the raw path; requests no route matches are ``unmatched``. Refused
    POST /v1/usage requests (4xx) count their events as rejected.
    """

    def __init__(self, route_paths: Callable[[], Iterable[str]]) -> None:
        # Path templates, read on first use (routers are included after this runs).
        self._route_paths = route_paths
        self._patterns: list[tuple[re.Pattern[str], str]] | None = None

    def observe(self, scope: Scope, status: int, seconds: float, notes: dict[str, int]) -> None:
        route = self._route(scope)
        metrics.observe_request(scope["method"], route, status, seconds)
        if route == USAGE_ROUTE and scope["method"] == "POST" and 400 <= status < 500:
            metrics.record_rejected_usage(notes.get("usage_events", 1))

    def _route(self, scope: Scope) -> str:
        path = getattr(scope.get("route"), "path", None)
        if isinstance(path, str):
            return path
        # Refused before routing (body limit, strict JSON): find the template ourselves.
        if self._patterns is None:
            self._patterns = [(compile_path(t)[0], t) for t in self._route_paths()]
        return next((t for regex, t in self._patterns if regex.match(scope["path"])), "unmatched")
