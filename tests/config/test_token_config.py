"""tokenConfig on custom and built-in endpoints, built-in endpoint blocks, freeOfCharge."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.config.model import ModelRates

from .support import CustomYaml, Load, Problems, has

TC = "endpoints.custom[0].tokenConfig.gpt-4o"


def _rates(entry: str) -> str:
    return f"tokenConfig:\n  gpt-4o: {entry}"


def test_rates_are_decimals_from_source_text(load: Load, custom_yaml: CustomYaml) -> None:
    text = custom_yaml(
        _rates("{prompt: 2.5, completion: 10, context: 128000, cacheRead: 1.25, cacheWrite: 0}")
    )
    rates = load(text).endpoints["Local"].token_config["gpt-4o"]
    assert rates == ModelRates(Decimal("2.5"), Decimal(10), 128000, Decimal("1.25"), Decimal(0))
    assert type(rates.completion) is Decimal and type(rates.context) is int


def test_number_notations(load: Load, custom_yaml: CustomYaml) -> None:
    # YAML 1.2 exponent forms (1e-6) are numbers, not strings; 2.5e3 reads as 2500.
    text = custom_yaml(_rates("{prompt: 1e-6, completion: 2.5e3, context: 1_000, cacheRead: .5}"))
    rates = load(text).endpoints["Local"].token_config["gpt-4o"]
    assert (str(rates.prompt), str(rates.completion)) == ("0.000001", "2500")
    assert rates.context == 1000
    assert rates.cache_read == Decimal("0.5")


def test_cache_rates_absent_are_none(load: Load, custom_yaml: CustomYaml) -> None:
    text = custom_yaml(_rates("{prompt: 1, completion: 2, context: 10}"))
    rates = load(text).endpoints["Local"].token_config["gpt-4o"]
    assert rates.cache_read is None and rates.cache_write is None


FULL = "prompt: 1, completion: 2, context: 1000"
PLACES = "must have at most 18 decimal places"


def _context(value: str) -> str:
    return f"{{prompt: 1, completion: 2, context: {value}}}"


@pytest.mark.parametrize(
    ("entry", "key", "message"),
    [
        ("{prompt: -1, completion: 2, context: 10}", "prompt", "must be >= 0"),
        ("{prompt: 1, completion: -0.5, context: 10}", "completion", "must be >= 0"),
        ("{prompt: '3', completion: 2, context: 10}", "prompt", "must be a number, got a string"),
        ("{prompt: true, completion: 2, context: 10}", "prompt", "must be a number, got a boolean"),
        ("{prompt: null, completion: 2, context: 10}", "prompt", "must be a number, got null"),
        ("{prompt: .nan, completion: 2, context: 10}", "prompt", "must be a finite number"),
        ("{prompt: .inf, completion: 2, context: 10}", "prompt", "must be a finite number"),
        ("{prompt: 1000001, completion: 2, context: 10}", "prompt", "must be <= 1000000"),
        ("{prompt: 1e-30, completion: 2, context: 10}", "prompt", PLACES),
        (_context("'8k'"), "context", "must be a number, got a string"),
        (_context("true"), "context", "must be a number, got a boolean"),
        (f"{{{FULL}, cacheRead: -0.1}}", "cacheRead", "must be >= 0"),
        (f"{{{FULL}, cacheWrite: x}}", "cacheWrite", "must be a number, got a string"),
        ("{completion: 2, context: 10}", "prompt", "required"),
        ("{prompt: 1, context: 10}", "completion", "required"),
        ("{prompt: 1, completion: 2}", "context", "required"),
    ],
)  # fmt: skip
def test_rate_rules(
    problems: Problems, custom_yaml: CustomYaml, entry: str, key: str, message: str
) -> None:
    found = problems(custom_yaml(_rates(entry)))
    assert has(found, f"{TC}.{key}: {message}"), found


RANGE = "is not between 1 and 100000000 tokens (ignored)"


@pytest.mark.parametrize(
    ("value", "context", "warning"),
    [
        ("1.5", 1, "is not a whole number of tokens; 1 is used"),
        ("128000.0", 128000, None),
        ("131072.75", 131072, "is not a whole number of tokens; 131072 is used"),
        ("0", None, RANGE),
        ("-5", None, RANGE),
        ("100000001", None, RANGE),
        (".inf", None, RANGE),
        (".nan", None, RANGE),
    ],
)
def test_odd_context_only_warns(
    load: Load, custom_yaml: CustomYaml, value: str, context: int | None, warning: str | None
) -> None:
    # LibreChat accepts any number; billing only shows it as the context window.
    config = load(custom_yaml(_rates(_context(value))))
    rates = config.endpoints["Local"].token_config["gpt-4o"]
    assert (rates.prompt, rates.context) == (1, context)
    if warning is None:
        assert config.warnings == ()
    else:
        assert has(config.warnings, f"{TC}.context: {warning}"), config.warnings


def test_bounds_are_inclusive(load: Load, custom_yaml: CustomYaml) -> None:
    text = custom_yaml(_rates("{prompt: 1000000, completion: 0, context: 100000000}"))
    rates = load(text).endpoints["Local"].token_config["gpt-4o"]
    assert rates.prompt == Decimal(1_000_000) and rates.context == 100_000_000


def test_entry_and_block_shapes(problems: Problems, custom_yaml: CustomYaml) -> None:
    assert has(problems(custom_yaml(_rates("3"))), f"{TC}: must be a mapping, got a number")
    found = problems(custom_yaml("tokenConfig: [gpt-4o]"))
    assert has(found, "endpoints.custom[0].tokenConfig: must be a mapping, got a list")
    found = problems(custom_yaml(f"tokenConfig:\n  2025-01-31: {{{FULL}}}"))
    assert has(found, "endpoints.custom[0].tokenConfig.2025-01-31: model name must be a string")


def test_model_keys_are_text_as_in_librechat(load: Load, custom_yaml: CustomYaml) -> None:
    text = custom_yaml(f"tokenConfig:\n  7: {{{FULL}}}\n  '': {{{FULL}}}\n  m1: {{{FULL}}}")
    config = load(text)
    assert list(config.endpoints["Local"].token_config) == ["7", "m1"]
    tc = "endpoints.custom[0].tokenConfig"
    assert has(config.warnings, f"{tc}.7: model name read as the text '7'")
    assert has(config.warnings, f"{tc}.: empty model name (ignored)")


def test_all_missing_keys_reported(problems: Problems, custom_yaml: CustomYaml) -> None:
    found = problems(custom_yaml(_rates("{}")))
    for key in ("prompt", "completion", "context"):
        assert has(found, f"{TC}.{key}: required")


def test_unknown_rate_key_warns(load: Load, custom_yaml: CustomYaml) -> None:
    config = load(custom_yaml(_rates(f"{{{FULL}, reasoning: 3}}")))
    assert has(config.warnings, f"{TC}.reasoning: unknown key (ignored)")
    assert config.endpoints["Local"].token_config["gpt-4o"].prompt == 1


def test_token_config_on_builtin_endpoint(load: Load) -> None:
    config = load(
        """
        endpoints:
          openAI:
            tokenConfig:
              gpt-4o: {prompt: 2.5, completion: 10, context: 128000, cacheRead: 1.25}
            streamRate: 25
          anthropic:
            freeOfCharge: true
            models: {default: [claude-sonnet-4-5]}
        """
    )
    openai = config.endpoints["openAI"]
    assert openai.kind == "builtin"
    assert openai.token_config["gpt-4o"].cache_read == Decimal("1.25")
    assert config.endpoints["anthropic"].free_of_charge is True
    assert config.endpoints["anthropic"].models == ("claude-sonnet-4-5",)
    assert config.warnings == ()  # streamRate is a known LibreChat setting


def test_builtin_endpoint_errors(problems: Problems) -> None:
    found = problems(
        """
        endpoints:
          anthropic:
            tokenConfig:
              claude-x: {prompt: 3, completion: -15, context: 200000}
          google: [gemini]
          bedrock:
            freeOfCharge: 1
        """
    )
    assert has(found, "endpoints.anthropic.tokenConfig.claude-x.completion: must be >= 0")
    assert has(found, "endpoints.google: must be a mapping, got a list")
    assert has(found, "endpoints.bedrock.freeOfCharge: must be true or false, got a number")


def test_builtin_unknown_keys_only_warn(load: Load) -> None:
    config = load("endpoints:\n  openAI:\n    apiKey: x\n    colour: blue\n")
    assert config.warnings == ("endpoints.openAI.colour: unknown key (ignored) (line 4)",)
    assert config.endpoints["openAI"].api_key is None  # LibreChat's setting, not read


def test_builtin_blocks_may_be_empty(load: Load) -> None:
    config = load("endpoints:\n  openAI:\n  agents: {}\n  all: {streamRate: 10}\n")
    assert config.endpoints["openAI"].token_config == {}
    assert config.warnings == ()


def test_free_of_charge_with_rates_warns(load: Load, custom_yaml: CustomYaml) -> None:
    config = load(custom_yaml(f"freeOfCharge: true\n{_rates('{' + FULL + '}')}"))
    assert config.endpoints["Local"].free_of_charge is True
    message = "rates are not charged: the endpoint is freeOfCharge"
    assert has(config.warnings, f"endpoints.custom[0].tokenConfig: {message}")


def test_cache_write_1h_rate_is_read_without_warning(load: Load, custom_yaml: CustomYaml) -> None:
    text = custom_yaml(
        _rates("{prompt: 3, completion: 15, context: 200000, cacheWrite: 3.75, cacheWrite1h: 6}")
    )
    config = load(text)
    rates = config.endpoints["Local"].token_config["gpt-4o"]
    assert (rates.cache_write, rates.cache_write_1h) == (Decimal("3.75"), Decimal(6))
    assert not [w for w in config.warnings if "cacheWrite1h" in w]
    absent = load(custom_yaml(_rates("{prompt: 1, completion: 2, context: 10}")))
    assert absent.endpoints["Local"].token_config["gpt-4o"].cache_write_1h is None
