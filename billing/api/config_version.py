"""Pin one config snapshot per request and name it in the answer.

The snapshot current when the request arrives prices it, even if an admin
reload swaps the config meanwhile (the dependencies read it from here), and
every answer says which one it was: ``X-Billing-Config-Version``. Workers on
different configs (a failed rollout, a reload that reached one worker) are
then visible from the outside.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class ConfigVersion:
    """Pure ASGI middleware; the header bytes are built once per snapshot."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self._header_of: tuple[ConfigSnapshot | None, tuple[bytes, bytes]] = (None, (HEADER, b""))

    def _header(self, snapshot: ConfigSnapshot) -> tuple[bytes, bytes]:
        cached, header = self._header_of
        if cached is not snapshot:
            header = (HEADER, snapshot.version.encode("ascii"))
            self._header_of = (snapshot, header)
        return header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[SNAPSHOT] = self.runtime.snapshot

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.append(self._header(scope[SNAPSHOT]))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_version)
