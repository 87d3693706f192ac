"""Constants and small helpers shared by the config tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from billing.config.model import AppConfig

# A copy of the shared example librechat.yaml, kept here so the tests are hermetic.
EXAMPLE = Path(__file__).with_name("librechat.example.yaml")
ENV = {
    "MISTRAL_API_KEY": "mistral-secret",
    "ANTHROPIC_API_KEY": "anthropic-secret",
    "OPENROUTER_KEY": "openrouter-secret",
}

Load = Callable[..., AppConfig]
Problems = Callable[..., list[str]]
CustomYaml = Callable[..., str]


def has(lines: list[str] | tuple[str, ...], expected: str) -> bool:
    """Some line is ``expected``, possibly followed by its " (line N)" location."""
    return any(line == expected or line.startswith(expected + " (line ") for line in lines)
