"""Fixtures of the gateway tests: the fake provider and the config pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.live import free_port
from tests.gateway.support import config_yaml
from tests.gateway.upstream import FakeUpstream


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture
def gateway_config(upstream: FakeUpstream) -> str:
    """Endpoints OpenAI-Up and Claude-Up (the fake provider), Down (a port nobody
    listens on), Unset (apiKey from an unset variable) and BYOK (user_provided)."""
    return config_yaml(upstream.url, f"http://127.0.0.1:{free_port()}")
