"""A whole file LibreChat runs with loads, with one warning per oddity, each naming its
key and line; `billing config check` prints them and exits 0."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from billing.cli import app
from billing.config.env import Unresolved, UnresolvedValue
from billing.config.loader import load_config_file
from billing.settings import get_settings

LENIENT = Path(__file__).with_name("librechat.lenient.yaml")
UNUSABLE = "billing cannot use this value (e.g. to fetch models) until it is set"
EXPECTED_WARNINGS = [
    f"endpoints.custom[0].apiKey: environment variable GROQ_API_KEY is not set; {UNUSABLE} "
    "(line 22)",
    "endpoints.custom[0].titlePrompt: does not contain {convo} (line 32)",
    "endpoints.custom[0].tokenConfig.llama-3.3-70b-versatile.context: "
    "is not a whole number of tokens; 131072 is used (line 35)",
    f"endpoints.custom[1].apiKey: environment variable MISTRAL_API_KEY is not set; {UNUSABLE} "
    "(line 37)",
    "endpoints.custom[2].headers.x-portkey-api-key: environment variable PORTKEY_API_KEY "
    f"is not set; {UNUSABLE} (line 45)",
    "endpoints.custom[2].headers.x-portkey-retry-count: is a number, sent as the text '3' "
    "(line 46)",
    "endpoints.custom[2].apiKey: missing: LibreChat skips this endpoint, so billing does too "
    "(line 42)",
    f"endpoints.custom[3].apiKey: environment variable MISTRAL_API_KEY is not set; {UNUSABLE} "
    "(line 50)",
    "endpoints.custom[3].name: 'Mistral' is also the name of endpoints.custom[1]; "
    "this later one is used, as in LibreChat (line 49)",
    "endpoints.custom[3].titleEndpoint: unknown endpoint 'Portkey' "
    "(use openAI, azureOpenAI, google, anthropic, bedrock or a custom name) (line 54)",
]


def test_file_loads_with_a_warning_for_each_oddity() -> None:
    config = load_config_file(LENIENT, environ={})
    assert list(config.warnings) == EXPECTED_WARNINGS

    assert config.endpoints["bedrock"].models == (
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
        "mistral.mistral-large-2407-v1:0",
    )
    assert config.endpoints["anthropic"].models == ("claude-sonnet-4-5", "claude-haiku-4-5")
    customs = [e.name for e in config.endpoints.values() if e.kind == "custom"]
    assert customs == ["groq", "Mistral"]  # Portkey skipped; the later Mistral kept
    mistral = config.endpoints["Mistral"]
    assert mistral.require_base_url() == "https://eu.api.mistral.ai/v1"
    groq = config.endpoints["groq"]
    assert groq.models == ("llama-3.3-70b-versatile", "llama-3.1-8b-instant")
    assert groq.token_config["llama-3.3-70b-versatile"].context == 131072
    assert isinstance(groq.api_key, Unresolved)
    with pytest.raises(UnresolvedValue, match=r"endpoints\.custom\[0\]\.apiKey: .* GROQ_API_KEY"):
        groq.require_api_key()


def test_with_the_variables_set_only_the_real_oddities_remain() -> None:
    env = {"GROQ_API_KEY": "gsk-1", "MISTRAL_API_KEY": "ms-1", "PORTKEY_API_KEY": "pk-1"}
    config = load_config_file(LENIENT, environ=env)
    assert config.endpoints["groq"].require_api_key() == "gsk-1"
    assert [w for w in config.warnings if "environment variable" in w] == []
    assert len(config.warnings) == len(EXPECTED_WARNINGS) - 4


def _check(*args: str, env: dict[str, str | None]) -> tuple[int, str, str]:
    get_settings.cache_clear()  # BILLING_CONFIG is read through the settings
    try:
        result = CliRunner().invoke(app, ["config", "check", *args], env=env)
    finally:
        get_settings.cache_clear()
    return result.exit_code, result.stdout, result.stderr


UNSET = {"GROQ_API_KEY": None, "MISTRAL_API_KEY": None, "PORTKEY_API_KEY": None}


def test_config_check_prints_warnings_and_exits_0() -> None:
    code, out, err = _check(str(LENIENT), env={**UNSET, "BILLING_CONFIG": None})
    assert code == 0, err
    assert out.splitlines() == [*(f"warning: {w}" for w in EXPECTED_WARNINGS), f"{LENIENT}: ok"]


def test_config_check_defaults_to_billing_config() -> None:
    code, out, _ = _check(env={**UNSET, "BILLING_CONFIG": str(LENIENT)})
    assert code == 0
    assert out.splitlines()[-1] == f"{LENIENT}: ok"


def test_config_check_without_file_or_billing_config_is_a_usage_error() -> None:
    code, _, err = _check(env={"BILLING_CONFIG": None})
    assert code == 2
    assert "no FILE given and BILLING_CONFIG is not set" in err


def test_config_check_prints_warnings_even_with_errors(tmp_path: Path) -> None:
    bad = tmp_path / "librechat.yaml"
    bad.write_text(
        LENIENT.read_text(encoding="utf-8").replace(
            "claude-sonnet-4-5: {prompt: 3,", "claude-sonnet-4-5: {prompt: -3,"
        ),
        encoding="utf-8",
    )
    code, out, err = _check(str(bad), env=UNSET)
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        "endpoints.anthropic.tokenConfig.claude-sonnet-4-5.prompt: must be >= 0 (line 19)",
        *(f"warning: {w}" for w in EXPECTED_WARNINGS),
    ]
