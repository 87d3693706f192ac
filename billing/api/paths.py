"""``/v1/usage/`` is ``/v1/usage``.

Starlette would answer a trailing slash with an empty 307 redirect, which
many clients do not follow for a POST (and some follow as a GET). Routes have
no trailing slash, so it is dropped before routing (billing/api/front.py): the
request just works, and an unknown path still gets a JSON 404.
"""

from __future__ import annotations

from starlette.types import Scope


def without_trailing_slash(scope: Scope) -> Scope:
    """The request's scope, with a copy whose path has no trailing slash if it had one."""
    path: str = scope.get("path", "")
    if len(path) > 1 and path.endswith("/"):
        scope = dict(scope)
        scope["path"] = path.rstrip("/") or "/"
        raw = scope.get("raw_path")
        if raw:
            scope["raw_path"] = raw.rstrip(b"/") or b"/"
    return scope
