from __future__ import annotations

import pytest

from billing.pricing.matching import find_value_key
from billing.pricing.tables import load_default_tables
from tests.pricing.factories import tables


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),  # exact
        ("Claude-Sonnet-4-5", "claude-sonnet-4-5"),  # lower-cased first
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),  # longest, not claude-sonnet-4
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet"),
        ("gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash"),
    ],
)
def test_longest_substring_key(model: str, key: str) -> None:
    assert find_value_key(model, load_default_tables()) == key


def test_exact_key_wins_over_longer_substrings() -> None:
    # "gpt-5" is itself a key; nothing longer can contain it as a whole name.
    t = tables({"gpt-5": ("1", "2"), "gpt-5-": ("3", "4")})
    assert find_value_key("gpt-5", t) == "gpt-5"
    # Exact wins even when a longer key would also be a substring (it cannot be
    # a substring of a shorter name, so this is the "at once" shortcut).
    assert find_value_key("kimi-k2", load_default_tables()) == "kimi-k2"


def test_equal_length_tie_goes_to_key_defined_last() -> None:
    default = load_default_tables()
    keys = list(default.token_values)
    # Real pair: "deepseek" (defined early) and "moonshot" (later), both 8 chars.
    assert len("deepseek") == len("moonshot")
    assert keys.index("deepseek") < keys.index("moonshot")
    # The key's position in the file decides, not its position in the name.
    assert find_value_key("deepseek-moonshot-merge", default) == "moonshot"
    assert find_value_key("moonshot-deepseek-merge", default) == "moonshot"


def test_tie_order_follows_file_order_not_alphabet() -> None:
    assert find_value_key("aa-bb", tables({"bb": ("1", "1"), "aa": ("2", "2")})) == "aa"
    assert find_value_key("aa-bb", tables({"aa": ("1", "1"), "bb": ("2", "2")})) == "bb"


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("openrouter/openai/gpt-4.1-mini", "gpt-4.1-mini"),
        ("meta-llama/llama-3.1-8b-instruct", "llama-3.1-8b"),
        # The full name matches "moonshot" (8 chars) but that key has no '/':
        # the part after the last '/' decides.
        ("moonshotai/kimi-k2", "kimi-k2"),
        # Nothing in the model part: fall back to the full-name match.
        ("moonshotai/some-new-model", "moonshot"),
        # Nothing anywhere: legacy mapping still runs on the full name.
        ("openai/gpt-4", "8k"),
    ],
)
def test_provider_prefixed_names(model: str, key: str) -> None:
    assert find_value_key(model, load_default_tables()) == key


def test_provider_prefixed_key_with_slash_is_kept() -> None:
    # The shipped table has no key with '/', so use a small table that does.
    t = tables({"gpt-4o": ("1", "1"), "azure/gpt-4o": ("2", "2"), "mini": ("3", "3")})
    assert find_value_key("azure/gpt-4o-2024", t) == "azure/gpt-4o"
    assert find_value_key("openrouter/gpt-4o", t) == "gpt-4o"
    # The full-name match is the longest key overall; a shorter '/' key loses to it.
    t2 = tables({"a/": ("1", "1"), "gpt-4o-mini": ("2", "2")})
    assert find_value_key("a/gpt-4o-mini", t2) == "gpt-4o-mini"
    assert find_value_key("a/unknown", t2) == "a/"


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("gpt-3.5-turbo", "4k"),
        ("gpt-3.5-turbo-0301", "4k"),
        ("gpt-3.5-turbo-16k-0613", "16k"),
        ("gpt-4", "8k"),
        ("gpt-4-0613", "8k"),
        ("GPT-4-Turbo", "gpt-4-1106"),
        ("gpt-4-turbo-2024-04-09", "gpt-4-1106"),
        ("gpt-4-vision-preview", "gpt-4-1106"),
        ("gpt-4-0125-preview", "gpt-4-1106"),
        ("gpt-4-32k-0613", "32k"),
    ],
)
def test_legacy_openai_names(model: str, key: str) -> None:
    assert find_value_key(model, load_default_tables()) == key


def test_legacy_mapping_order() -> None:
    # Only the legacy rules can match here, so their order decides.
    t = tables({"16k": ("1", "1"), "4k": ("1", "1"), "8k": ("1", "1"), "gpt-4-1106": ("1", "1")})
    assert find_value_key("gpt-3.5-turbo-16x", t) == "4k"
    assert find_value_key("gpt-4-vision-32x", t) == "gpt-4-1106"


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("claude-opus-4.5", "claude-opus-4"),  # not claude-opus-4-5: '.' vs '-'
        ("anthropic/claude-sonnet-4.5", "claude-sonnet-4"),
        ("phi-3-medium-128k-instruct", "8k"),  # "128k" contains "8k"
    ],
)
def test_librechat_parity_surprises(model: str, key: str) -> None:
    assert find_value_key(model, load_default_tables()) == key


@pytest.mark.parametrize("model", ["", "totally-unknown", "mistralai/unknown"])
def test_no_key(model: str) -> None:
    assert find_value_key(model, load_default_tables()) is None


def test_default_tables_argument_is_optional() -> None:
    assert find_value_key("gpt-4o") == "gpt-4o"
