"""Top-level keys, balance, transactions and interface.currency."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.config.model import BalanceConfig, CurrencyConfig, default_config

from .support import CustomYaml, Load, Problems, has


@pytest.mark.parametrize("text", ["", "\n", "# nothing yet\n", "---\n"])
def test_empty_file_is_the_defaults(load: Load, text: str) -> None:
    config = load(text)
    assert config.endpoints == default_config().endpoints
    assert config.balance == BalanceConfig()
    assert config.transactions_enabled is True
    assert config.currency == CurrencyConfig()
    assert config.warnings == ()


@pytest.mark.parametrize("text", ["- a\n", "just text\n", "42\n"])
def test_top_level_must_be_a_mapping(problems: Problems, text: str) -> None:
    assert problems(text) == ["(top level): the document must be a mapping of keys"]


def test_well_known_librechat_keys_are_silent(load: Load) -> None:
    config = load(
        """
        version: 1.3.0
        cache: true
        fileStrategy: s3
        registration: {socialLogins: [github]}
        speech: {tts: {}}
        rateLimits: {fileUploads: {ipMax: 100}}
        mcpServers: {}
        modelSpecs: {list: []}
        memory: {disabled: true}
        agents: {}
        actions: {allowedDomains: [example.com]}
        webSearch: {}
        ocr: {}
        turnstile: {}
        fileConfig: {}
        interface: {privacyPolicy: {externalUrl: x}, customWelcome: hi}
        endpoints: {all: {streamRate: 10}}
        """
    )
    assert config.warnings == ()


def test_unknown_keys_warn_with_their_path(load: Load) -> None:
    config = load(
        """
        billingMode: strict
        endpoints: {azure: {}}
        balance: {enabled: false, startBalanse: 5}
        transactions: {enabled: true, keep: 3}
        interface: {currency: {code: USD, symbol: $}}
        """
    )
    for path in (
        "billingMode",
        "endpoints.azure",
        "balance.startBalanse",
        "transactions.keep",
        "interface.currency.symbol",
    ):
        assert has(config.warnings, f"{path}: unknown key (ignored)"), config.warnings


def test_endpoints_null_or_custom_null(load: Load) -> None:
    assert len(load("endpoints:\n").endpoints) == 8
    assert len(load("endpoints:\n  custom:\n").endpoints) == 8


def test_endpoints_must_be_a_mapping(problems: Problems) -> None:
    assert has(problems("endpoints: [openAI]\n"), "endpoints: must be a mapping, got a list")


def test_balance(load: Load) -> None:
    config = load(
        """
        balance:
          enabled: true
          startBalance: 1500.5
          autoRefillEnabled: true
          refillIntervalValue: 2
          refillIntervalUnit: weeks
          refillAmount: 0
        """
    )
    assert config.balance == BalanceConfig(
        enabled=True,
        start_balance=Decimal("1500.5"),
        auto_refill_enabled=True,
        refill_interval_value=2,
        refill_interval_unit="weeks",
        refill_amount=Decimal(0),
    )


def test_balance_defaults(load: Load) -> None:
    balance = load("balance: {enabled: true}\n").balance
    assert balance == BalanceConfig(enabled=True)
    assert (balance.start_balance, balance.refill_amount) == (Decimal(20000), Decimal(10000))
    assert (balance.refill_interval_value, balance.refill_interval_unit) == (30, "days")


UNITS = "seconds, minutes, hours, days, weeks, months"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("enabled: 'yes'", "must be true or false, got a string"),
        ("startBalance: -1000000000001", "must be >= -1000000000000"),
        ("startBalance: lots", "must be a number, got a string"),
        ("startBalance: 1000000000001", "must be <= 1000000000000"),
        ("autoRefillEnabled: 1", "must be true or false, got a number"),
        ("refillIntervalValue: 0", "must be a positive integer"),
        ("refillIntervalValue: 1.5", "must be a positive integer, got a number"),
        ("refillIntervalValue: 10001", "must be <= 10000"),
        ("refillIntervalUnit: fortnights", f"must be one of {UNITS} (got 'fortnights')"),
        ("refillAmount: .nan", "must be a finite number"),
    ],
)
def test_balance_errors(problems: Problems, entry: str, message: str) -> None:
    found = problems(f"balance:\n  {entry}\n")
    key = entry.split(":")[0]
    assert has(found, f"balance.{key}: {message}"), found


def test_balance_values_librechat_accepts_only_warn(load: Load) -> None:
    config = load(
        """
        balance:
          enabled: true
          startBalance: -250
          autoRefillEnabled: true
          refillAmount: 1500.1234567
        """
    )
    assert (config.balance.start_balance, config.balance.refill_amount) == (
        Decimal(-250),
        Decimal("1500.123457"),  # whole micro-credits, half-even
    )
    assert config.warnings == (
        "balance.refillAmount: has more than 6 decimal places; 1500.123457 is used (line 6)",
        "balance.startBalance: is negative: new users start in debt (line 4)",
    )


def test_refill_of_nothing_warns(load: Load) -> None:
    config = load("balance: {enabled: true, autoRefillEnabled: true, refillAmount: -5}\n")
    assert config.balance.refill_amount == Decimal(-5)
    assert config.warnings == (
        "balance.refillAmount: is not positive: auto-refill adds nothing (line 1)",
    )


def test_balance_must_be_a_mapping(problems: Problems) -> None:
    assert has(problems("balance: true\n"), "balance: must be a mapping, got a boolean")


def test_refill_without_balances_warns(load: Load) -> None:
    config = load("balance: {autoRefillEnabled: true}\n")
    expected = "balance.autoRefillEnabled: has no effect while balance.enabled is false"
    assert has(config.warnings, expected)


def test_transactions(load: Load, problems: Problems) -> None:
    assert load("transactions: {enabled: false}\n").transactions_enabled is False
    assert load("transactions:\n").transactions_enabled is True
    found = problems("transactions: {enabled: 'no'}\n")
    assert has(found, "transactions.enabled: must be true or false, got a string")
    assert has(problems("transactions: [x]\n"), "transactions: must be a mapping, got a list")


def test_transactions_forced_on_with_balances(load: Load) -> None:
    config = load("balance: {enabled: true}\ntransactions: {enabled: false}\n")
    assert config.transactions_enabled is True
    expected = "transactions.enabled: forced to true because balance.enabled is true"
    assert has(config.warnings, expected)


def test_currency(load: Load) -> None:
    currency = load("interface:\n  currency: {code: chf, rate: 0.88}\n").currency
    assert currency == CurrencyConfig(code="CHF", rate=Decimal("0.88"))
    assert load("interface: {currency: {rate: 2}}\n").currency == CurrencyConfig(rate=Decimal(2))


CODE = "must be a 3-letter currency code such as USD"


@pytest.mark.parametrize(
    ("entry", "path", "message"),
    [
        ("{code: EURO}", "code", f"{CODE} (got 'EURO')"),
        ("{code: E1R}", "code", f"{CODE} (got 'E1R')"),
        ("{code: 978}", "code", "must be a string, got a number"),
        ("{rate: 0}", "rate", "must be > 0"),
        ("{rate: -1.5}", "rate", "must be > 0"),
        ("{rate: x}", "rate", "must be a number, got a string"),
        ("[EUR]", "", "must be a mapping, got a list"),
    ],
)
def test_currency_errors(problems: Problems, entry: str, path: str, message: str) -> None:
    found = problems(f"interface:\n  currency: {entry}\n")
    prefix = "interface.currency" + (f".{path}" if path else "")
    assert has(found, f"{prefix}: {message}"), found


def test_interface_must_be_a_mapping(problems: Problems) -> None:
    assert has(problems("interface: 3\n"), "interface: must be a mapping, got a number")


def test_every_problem_is_reported(problems: Problems, custom_yaml: CustomYaml) -> None:
    text = custom_yaml(
        """
        titlePrompt: no placeholder
        tokenConfig:
          gpt-4o: {prompt: -1, completion: x}
        """,
        omit=("name",),
    )
    text += "    - {name: Second, apiKey: k, baseURL: u, models: {default: [3]}}\n"
    text += "balance: {startBalance: lots, refillIntervalUnit: years}\n"
    text += "interface: {currency: {code: euro, rate: 0}}\n"
    found = problems(text)
    expected = [
        "endpoints.custom[0].tokenConfig.gpt-4o.prompt: must be >= 0",
        "endpoints.custom[0].tokenConfig.gpt-4o.completion: must be a number, got a string",
        "endpoints.custom[0].tokenConfig.gpt-4o.context: required",
        "endpoints.custom[1].models.default[0]: "
        "must be a model name or {name, description}, got a number",
        "balance.startBalance: must be a number, got a string",
        f"balance.refillIntervalUnit: must be one of {UNITS} (got 'years')",
        f"interface.currency.code: {CODE} (got 'euro')",
        "interface.currency.rate: must be > 0",
    ]
    for line in expected:
        assert has(found, line), (line, found)
    assert len(found) == len(expected), found


def test_problems_name_their_line(problems: Problems) -> None:
    found = problems("balance:\n  enabled: true\n  startBalance: lots\n")
    assert found == ["balance.startBalance: must be a number, got a string (line 3)"]
