"""The realistic example file loads into exactly the expected objects."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from billing.config.loader import load_config_file
from billing.config.model import BUILTIN_ENDPOINTS, ModelRates

from .support import ENV, EXAMPLE, Load


def _no_floats(value: Any) -> None:
    assert not isinstance(value, float), value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            _no_floats(getattr(value, field.name))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _no_floats(key)
            _no_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _no_floats(item)


def test_example_endpoints_in_order(load: Load, example_text: str) -> None:
    config = load(example_text)
    assert list(config.endpoints) == [
        *BUILTIN_ENDPOINTS,
        "Mistral",
        "Claude-Compatible",
        "OpenRouter",
        "ollama",
    ]
    assert all(config.endpoints[n].kind == "builtin" for n in BUILTIN_ENDPOINTS)
    assert config.endpoints["ollama"].kind == "custom"


def test_example_rates_are_exact_decimals(load: Load, example_text: str) -> None:
    config = load(example_text)
    claude = config.endpoints["Claude-Compatible"]
    assert claude.token_config["claude-sonnet-4-5"] == ModelRates(
        prompt=Decimal("3"),
        completion=Decimal("15"),
        context=200000,
        cache_read=Decimal("0.3"),
        cache_write=Decimal("3.75"),
    )
    small = config.endpoints["Mistral"].token_config["mistral-small"]
    assert (small.prompt, small.completion) == (Decimal("0.2"), Decimal("0.6"))
    assert small.cache_read is None and small.cache_write is None
    mini = config.endpoints["OpenRouter"].token_config["openai/gpt-4o-mini"]
    assert str(mini.cache_read) == "0.075"
    _no_floats(config)


def test_example_endpoint_fields(load: Load, example_text: str) -> None:
    config = load(example_text)
    claude = config.endpoints["Claude-Compatible"]
    assert claude.provider == "anthropic"
    assert claude.api_key == "anthropic-secret"
    assert claude.base_url == "https://api.anthropic.com"
    assert claude.models == ("claude-sonnet-4-5", "claude-opus-4-5")
    # LibreChat's per-request placeholders are kept for LibreChat to fill.
    assert dict(claude.headers) == {
        "anthropic-version": "2023-06-01",
        "X-User-ID": "{{LIBRECHAT_USER_ID}}",
    }
    assert claude.model_display_label == "Claude (Compatible)"
    assert claude.extra["titlePromptTemplate"] == "User: {input}\nAI: {output}"

    mistral = config.endpoints["Mistral"]
    assert mistral.extra["customParams"] == {
        "reasoningFormat": "reasoning_object",
        "reasoningKey": "reasoning_content",
    }
    assert mistral.extra["addParams"] == {"safe_prompt": True}
    assert mistral.extra["dropParams"] == ("stop", "user", "frequency_penalty", "presence_penalty")

    openrouter = config.endpoints["OpenRouter"]
    assert openrouter.fetch_models is True
    assert openrouter.extra["titleEndpoint"] == "Mistral"
    assert openrouter.extra["titleMessageRole"] == "user"

    ollama = config.endpoints["ollama"]
    assert ollama.icon_url == "openAI"
    assert ollama.extra == {"directEndpoint": True, "titleConvo": False}
    assert ollama.token_config == {}


def test_example_balance_transactions_currency(load: Load, example_text: str) -> None:
    config = load(example_text)
    assert config.balance.enabled is True
    assert config.balance.start_balance == Decimal(20000)
    assert config.balance.auto_refill_enabled is True
    assert config.balance.refill_interval_value == 30
    assert config.balance.refill_interval_unit == "days"
    assert config.balance.refill_amount == Decimal(10000)
    assert config.transactions_enabled is True
    assert config.currency.code == "EUR"
    assert config.currency.rate == Decimal("0.92")


def test_example_warns_about_misplaced_user_id_query(load: Load, example_text: str) -> None:
    # The example puts userIdQuery beside models instead of under it.
    (warning,) = load(example_text).warnings
    assert warning.startswith("endpoints.custom[2].userIdQuery: unknown key (ignored)")
    assert "models.userIdQuery" in warning


def test_example_file_loads_from_disk(monkeypatch: Any) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    config = load_config_file(EXAMPLE)
    assert config.source == str(EXAMPLE)
    assert config.endpoints["Mistral"].api_key == "mistral-secret"
