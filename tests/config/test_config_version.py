"""The config version: a stable name for what prices events."""

from __future__ import annotations

from billing.config.loader import parse_config
from billing.config.model import default_config
from billing.config.version import config_version
from tests.helpers import CLAUDE_CONFIG


def test_the_same_prices_have_the_same_version_whatever_the_spelling() -> None:
    version = config_version(parse_config(CLAUDE_CONFIG, source="a.yaml"))
    assert len(version) == 12 and int(version, 16) >= 0
    respelled = "# a comment\n" + CLAUDE_CONFIG.replace("prompt: 3", "prompt: 3.000")
    assert config_version(parse_config(respelled, source="elsewhere/b.yaml")) == version
    assert config_version(default_config()) == config_version(default_config())


def test_a_different_price_or_setting_is_a_different_version() -> None:
    version = config_version(parse_config(CLAUDE_CONFIG))
    dearer = CLAUDE_CONFIG.replace("prompt: 3", "prompt: 4")
    no_balance = CLAUDE_CONFIG.replace("enabled: true", "enabled: false", 1)
    others = {config_version(parse_config(text)) for text in (dearer, no_balance)}
    assert len(others) == 2 and version not in others
    assert config_version(default_config()) != version


def test_an_environment_value_is_part_of_the_version() -> None:
    text = CLAUDE_CONFIG.replace("apiKey: test-key", "apiKey: ${VERSION_TEST_KEY}")
    one = config_version(parse_config(text, environ={"VERSION_TEST_KEY": "one"}))
    two = config_version(parse_config(text, environ={"VERSION_TEST_KEY": "two"}))
    assert one != two
