"""A route class for the hot small requests: parameters solved directly.

FastAPI's general dependency solving (caches, scopes, query, header and cookie
parameters, sub-dependency trees) was ~20% of the event loop's CPU for a
pre-flight check (py-spy of a worker under cpu_split --kind check). A route of
this class takes only what the hot routes use, and solves it in a few calls:

- dependencies that take the request (or the connection) alone (``IngestContext``,
  FastAPI's security schemes), called in order;
- path parameters, validated by FastAPI's own code (same errors: 422);
- the ``Request``;

and its endpoint returns a ``Response``. The dependant is FastAPI's, so
/openapi.json describes the route as before. A route that declares anything
else fails at import, not per request. Not applied: ``app.dependency_overrides``
(none are used) and dependencies added by ``include_router`` (none: billing/main.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute


class DirectRoute(APIRoute):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _check_supported(self.dependant, self.path)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        dependant = self.dependant
        endpoint = dependant.call
        assert endpoint is not None
        path_params = dependant.path_params
        request_name = dependant.request_param_name
        dependencies = [(sub.name, sub.call) for sub in dependant.dependencies]

        async def handler(request: Request) -> Response:
            arguments: dict[str, Any] = {}
            # As FastAPI: dependencies first (an unknown key is 401 before a bad path is 422).
            for name, call in dependencies:
                value = await call(request)  # type: ignore[misc]
                if name is not None:
                    arguments[name] = value
            if path_params:
                values, errors = request_params_to_args(path_params, request.path_params)
                if errors:
                    raise RequestValidationError(errors)
                arguments.update(values)
            if request_name is not None:
                arguments[request_name] = request
            response: Response = await endpoint(**arguments)
            return response

        return handler


def _check_supported(dependant: Dependant, path: str) -> None:
    unsupported = [
        kind
        for kind, present in (
            ("query parameters", dependant.query_params),
            ("header parameters", dependant.header_params),
            ("cookie parameters", dependant.cookie_params),
            ("a body parameter", dependant.body_params),
            ("a sync endpoint", not _is_async(dependant.call)),
            ("other special parameters", _special(dependant)),
        )
        if present
    ]
    for sub in dependant.dependencies:
        if (
            sub.dependencies
            or sub.path_params
            or sub.query_params
            or sub.header_params
            or sub.cookie_params
            or sub.body_params
            or _special(sub, connection=False)
            or (sub.request_param_name or sub.http_connection_param_name) is None
            or not _is_async(sub.call)
        ):
            unsupported.append(f"dependency {sub.name!r} takes more than the request")
    if unsupported:
        raise TypeError(f"DirectRoute {path}: {', '.join(unsupported)}")


def _special(dependant: Dependant, connection: bool = True) -> bool:
    """Parameters FastAPI fills from the connection, other than the request (and,
    unless ``connection`` is false, other than the connection)."""
    return any(
        name is not None
        for name in (
            dependant.websocket_param_name,
            dependant.http_connection_param_name if connection else None,
            dependant.response_param_name,
            dependant.background_tasks_param_name,
            dependant.security_scopes_param_name,
        )
    )


def _is_async(call: Callable[..., Any] | None) -> bool:
    if call is None:
        return False
    if inspect.iscoroutinefunction(call):
        return True
    return inspect.iscoroutinefunction(getattr(call, "__call__", None))  # noqa: B004
