"""What the tests of HttpFront's hot routes share (billing/api/hot_path.py): which
requests reached the FastAPI app behind it, and the hot path turned off."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from starlette.types import Receive, Scope, Send

from billing.api.hot_path import HotPath
from billing.api.json_body import StrictJsonBody


@contextmanager
def counting_app_requests() -> Iterator[list[str]]:
    """Paths of the requests that went on to the FastAPI app behind HttpFront."""
    paths: list[str] = []
    original = StrictJsonBody.__call__

    async def counting(self: StrictJsonBody, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            paths.append(scope["path"])
        await original(self, scope, receive, send)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(StrictJsonBody, "__call__", counting)
        yield paths


@contextmanager
def hot_path_off() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HotPath, "match", lambda self, scope: None)
        yield
