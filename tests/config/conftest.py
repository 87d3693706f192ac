"""Helpers for config tests: parse text with a fixed environment, collect problems."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import pytest

from billing.config.loader import ConfigError, parse_config
from billing.config.model import AppConfig

from .support import ENV, EXAMPLE, CustomYaml, Load, Problems


@pytest.fixture
def example_text() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


@pytest.fixture
def load() -> Load:
    def run(text: str, environ: Mapping[str, str] | None = None) -> AppConfig:
        return parse_config(textwrap.dedent(text), environ=ENV if environ is None else environ)

    return run


@pytest.fixture
def problems() -> Problems:
    """The problem lines of a document that must be refused."""

    def run(text: str, environ: Mapping[str, str] | None = None) -> list[str]:
        with pytest.raises(ConfigError) as caught:
            parse_config(textwrap.dedent(text), environ=ENV if environ is None else environ)
        assert str(caught.value) == "\n".join(caught.value.problems)
        return caught.value.problems

    return run


@pytest.fixture
def custom_yaml() -> CustomYaml:
    """One valid custom endpoint named Local, plus ``extra`` keys, minus ``omit``."""

    def build(extra: str = "", omit: tuple[str, ...] = ()) -> str:
        base = {
            "name": "name: Local",
            "apiKey": "apiKey: local-key",
            "baseURL": "baseURL: http://localhost:8080/v1",
            "models": "models:\n  default: [m1, m2]",
        }
        body = "\n".join(v for k, v in base.items() if k not in omit)
        if extra:
            body += "\n" + textwrap.dedent(extra).strip("\n")
        item = textwrap.indent(body, "      ").replace("      ", "    - ", 1)
        return f"endpoints:\n  custom:\n{item}\n"

    return build
