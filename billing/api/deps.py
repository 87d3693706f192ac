"""FastAPI dependencies: runtime, database session (a commit point), auth."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.base import SecurityBase
from sqlalchemy.orm import Session

from billing import actors
from billing.api.config_version import pinned_snapshot
from billing.errors import Forbidden, Unauthorized
from billing.runtime import ConfigSnapshot, Runtime
from billing.settings import SCOPES

_bearer = HTTPBearer(
    auto_error=False, description="API key with ingest, read, gateway or admin scope"
)


# Plain lookups are ``async def`` so FastAPI runs them inline on the event loop;
# a sync dependency costs a thread-pool round trip per request (make bench).
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_snapshot(request: Request, runtime: RuntimeDep) -> ConfigSnapshot:
    return pinned_snapshot(request.scope, runtime)


SnapshotDep = Annotated[ConfigSnapshot, Depends(get_snapshot)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """One transaction per request, committed here (the other commit point is the
    group committer of the hot paths, billing/group_commit.py).

    ``scope="function"`` (below) runs this exit code before the response is
    sent, so a failed commit can never be answered with a 200.
    """
    with runtime.sessions() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


@lru_cache(maxsize=1024)  # parsing the address was ~2% of a check's CPU (py-spy)
def _is_remote(client_host: str | None) -> bool:
    """A client at a non-loopback IP address (test clients and unix sockets have none)."""
    try:
        return client_host is not None and not ipaddress.ip_address(client_host).is_loopback
    except ValueError:
        return False


def _granted_scopes(runtime: Runtime, key: str | None, client_host: str | None) -> set[str]:
    if not runtime.api_keys:
        # No key configured: the server only listens on loopback (see cli serve), and a
        # remote client reaching it anyway (a proxy's X-Forwarded-For) is refused here.
        if _is_remote(client_host):
            raise Unauthorized("no API key is configured: only loopback clients are served")
        return set(SCOPES)
    if key is None:
        raise Unauthorized("missing API key: send Authorization: Bearer <key>")
    presented = key.encode()
    granted: frozenset[str] | None = None
    # Compare against every key in constant time; do not stop at the first match.
    for known, scopes in runtime.api_keys.items():
        if hmac.compare_digest(presented, known.encode()):
            granted = scopes
    if granted is None:
        raise Unauthorized("invalid API key")
    return set(granted)


def check_key(runtime: Runtime, key: str | None, client_host: str | None, *scopes: str) -> None:
    """Let the bearer ``key`` (None: none sent) through when it holds any of ``scopes``;
    else Unauthorized or Forbidden. The one rule, for the dependencies below and for
    the hot routes' path in front of FastAPI (billing/api/hot_path.py)."""
    if not _granted_scopes(runtime, key, client_host).intersection(scopes):
        wanted = " or ".join(f"'{scope}'" for scope in scopes)
        raise Forbidden(f"this API key lacks the {wanted} scope")


def _authorize(
    request: Request,
    runtime: Runtime,
    credentials: HTTPAuthorizationCredentials | None,
    *scopes: str,
) -> None:
    """Let the key through when it holds any of ``scopes``."""
    client_host = request.client.host if request.client else None
    # _bearer gives credentials only for the Bearer scheme.
    key = credentials.credentials if credentials is not None else None
    check_key(runtime, key, client_host, *scopes)


def authorize_key(request: Request, key: str | None, *scopes: str) -> None:
    """Let ``key`` through when it holds any of ``scopes``: for routes that also take
    the key from another header (the gateway's ``x-api-key``, billing/gateway)."""
    client_host = request.client.host if request.client else None
    check_key(request.app.state.runtime, key, client_host, *scopes)


def require_scope(*scopes: str) -> Callable[..., Awaitable[None]]:
    """A dependency admitting keys with any of ``scopes`` (admin implies every scope)."""

    async def check(  # no I/O: runs on the event loop
        request: Request,
        runtime: RuntimeDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        _authorize(request, runtime, credentials, *scopes)

    # Read by the access tests: one scope, or a tuple of alternatives.
    check.required_scope = scopes[0] if len(scopes) == 1 else scopes  # type: ignore[attr-defined]
    return check


async def admin_actor(  # no I/O: runs on the event loop
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """Admit admin keys only; the key's id for the audit trail (never the key)."""
    _authorize(request, runtime, credentials, "admin")
    if not runtime.api_keys or credentials is None:
        return actors.LOOPBACK
    return actors.key_id(credentials.credentials)


admin_actor.required_scope = "admin"  # type: ignore[attr-defined]  # read by the access tests
# An admin action's route takes ``actor: AdminActor``: admin scope, and who acted.
AdminActor = Annotated[str, Depends(admin_actor)]


@dataclass(frozen=True, slots=True)
class Context:
    runtime: Runtime
    snapshot: ConfigSnapshot


class _ScopedContext(SecurityBase):
    """The bearer key (documented like ``_bearer``) checked for ``scope``, and the
    request's runtime and config snapshot: what a hot route needs, in one dependency.

    FastAPI's dependency solving is a large part of a small request's cost: one
    resolved dependency instead of five (runtime, snapshot, key, scope, context)
    saved ~100 us per request (make bench); the key read here, not by a
    sub-dependency, another ~10 us (the check's event-loop CPU, A/B).
    """

    def __init__(self, scope: str) -> None:
        self.model = _bearer.model
        self.scheme_name = _bearer.scheme_name
        self.required_scope = scope  # read by the access tests

    async def __call__(self, request: Request) -> Context:
        runtime: Runtime = request.app.state.runtime
        _authorize(request, runtime, await _bearer(request), self.required_scope)
        return Context(runtime, pinned_snapshot(request.scope, runtime))


# For the hot routes: authorisation, runtime and config snapshot in one dependency.
IngestContext = Annotated[Context, Depends(_ScopedContext("ingest"))]


IngestScope = Depends(require_scope("ingest"))
ReadScope = Depends(require_scope("read"))
AdminScope = Depends(require_scope("admin"))
IngestOrReadScope = Depends(require_scope("ingest", "read"))
