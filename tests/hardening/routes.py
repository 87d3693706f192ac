"""Every route of the live app, with the scope its auth dependency demands."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant

# No key needed, by contract (docs/api.md) or because they only describe the API.
PUBLIC_PATHS = frozenset(
    {"/metrics", "/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
SCOPES = ("ingest", "read", "admin")
# The operator console signs in with a cookie session, not a bearer key: its
# routes are checked by tests/console/test_access.py.
CONSOLE_PREFIX = "/console"


@dataclass(frozen=True)
class RouteInfo:
    method: str
    path: str
    # What billing.api.deps.require_scope demands: a scope, or a tuple of alternatives.
    scopes: frozenset[str | tuple[str, ...]]

    def url(self, fill: str = "probe") -> str:
        return re.sub(r"\{[^}]+\}", fill, self.path)


def _contexts(app: FastAPI) -> Iterator[Any]:
    try:  # FastAPI >= 0.16x keeps included routers nested; this flattens them
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        yield from app.routes
        return
    yield from iter_route_contexts(app.routes)


def _required_scopes(dependant: Dependant | None) -> set[str | tuple[str, ...]]:
    if dependant is None:
        return set()
    found: set[str | tuple[str, ...]] = set()
    scope = getattr(dependant.call, "required_scope", None)
    if scope is not None:
        found.add(scope)
    for sub in dependant.dependencies:
        found |= _required_scopes(sub)
    return found


def all_routes(app: FastAPI) -> list[RouteInfo]:
    routes = []
    for context in _contexts(app):
        route = getattr(context, "original_route", context)
        effective = getattr(context, "_route_context", None)
        dependant = getattr(effective, "dependant", None) or getattr(route, "dependant", None)
        path = getattr(context, "path", None) or getattr(route, "path", None)
        assert isinstance(path, str), context
        for method in sorted(getattr(context, "methods", None) or ()):
            if method == "HEAD":
                continue
            routes.append(RouteInfo(method, path, frozenset(_required_scopes(dependant))))
    return routes
