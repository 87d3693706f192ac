"""Pin one config snapshot per request and name it in the answer.

The snapshot current when the request arrives prices it, even if an admin
reload swaps the config meanwhile (the dependencies read it from here), and
every answer says which one it was: ``X-Billing-Config-Version`` (both done
by billing/api/front.py). Workers on different configs (a failed rollout, a
reload that reached one worker) are then visible from the outside.
"""

from __future__ import annotations

from starlette.types import Scope

from billing.runtime import ConfigSnapshot, Runtime

HEADER = b"x-billing-config-version"
SNAPSHOT = "billing.config_snapshot"


def pinned_snapshot(scope: Scope, runtime: Runtime) -> ConfigSnapshot:
    """The request's config (the runtime's current one outside a request)."""
    snapshot: ConfigSnapshot | None = scope.get(SNAPSHOT)
    return snapshot if snapshot is not None else runtime.snapshot


def pin_snapshot(scope: Scope, snapshot: ConfigSnapshot) -> None:
    """After a reload: the answer names the config now in use."""
    scope[SNAPSHOT] = snapshot


class VersionHeader:
    """The answer's header for a snapshot; its bytes are built once per snapshot."""

    def __init__(self) -> None:
        self._header_of: tuple[ConfigSnapshot | None, tuple[bytes, bytes]] = (None, (HEADER, b""))

    def of(self, snapshot: ConfigSnapshot) -> tuple[bytes, bytes]:
        cached, header = self._header_of
        if cached is not snapshot:
            header = (HEADER, snapshot.version.encode("ascii"))
            self._header_of = (snapshot, header)
        return header
