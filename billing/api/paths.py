"""``/v1/usage/`` is ``/v1/usage``.

Starlette would answer a trailing slash with an empty 307 redirect, which
many clients do not follow for a POST (and some follow as a GET). Routes have
no trailing slash, so it is dropped before routing: the request just works,
and an unknown path still gets a JSON 404.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class StripTrailingSlash:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = dict(scope)
            scope["path"] = path.rstrip("/") or "/"
            raw = scope.get("raw_path")
            if raw:
                scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)
