"""BILLING_* settings that the Makefile and the README rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.runtime import Runtime
from billing.settings import Settings


def test_empty_billing_config_means_the_built_in_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # `make run BILLING_CONFIG=` passes an empty value: no file, balances off.
    monkeypatch.setenv("BILLING_CONFIG", "")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'billing.db'}")
    assert settings.config is None
    runtime = Runtime(settings)
    try:
        assert runtime.snapshot.config.source is None
        assert runtime.snapshot.config.balance.enabled is False
    finally:
        runtime.close()
