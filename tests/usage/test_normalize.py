"""Provider usage objects -> disjoint counts, on realistic payloads."""

from __future__ import annotations

from typing import Any

import pytest

from billing.errors import InvalidRequest
from billing.pricing.types import TokenCounts
from billing.usage.normalize import normalize_usage

# --- OpenAI ------------------------------------------------------------------


def test_openai_chat_cached_tokens_are_inside_prompt_tokens() -> None:
    usage = {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 128,  # already inside completion_tokens
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    assert normalize_usage("openai", usage) == TokenCounts(
        prompt=86, completion=300, cache_read=1920
    )


def test_openai_chat_without_details_or_with_null_details() -> None:
    plain = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    assert normalize_usage("openai", plain) == TokenCounts(prompt=12, completion=5)
    nulls = {**plain, "prompt_tokens_details": None, "completion_tokens_details": None}
    assert normalize_usage("openai", nulls) == TokenCounts(prompt=12, completion=5)


def test_openai_responses_api() -> None:
    usage = {
        "input_tokens": 5328,
        "input_tokens_details": {"cached_tokens": 4096},
        "output_tokens": 952,
        "output_tokens_details": {"reasoning_tokens": 640},
        "total_tokens": 6280,
    }
    assert normalize_usage("openai", usage) == TokenCounts(
        prompt=1232, completion=952, cache_read=4096
    )


def test_deepseek_hit_and_miss() -> None:
    usage = {
        "prompt_tokens": 1500,
        "completion_tokens": 200,
        "total_tokens": 1700,
        "prompt_cache_hit_tokens": 1024,
        "prompt_cache_miss_tokens": 476,
    }
    expected = TokenCounts(prompt=476, completion=200, cache_read=1024)
    assert normalize_usage("openai", usage) == expected
    # Newer DeepSeek responses carry both spellings of the same number.
    both = {**usage, "prompt_tokens_details": {"cached_tokens": 1024}}
    assert normalize_usage("openai", both) == expected
    # Only the split, no total.
    split = {"prompt_cache_hit_tokens": 1024, "prompt_cache_miss_tokens": 476}
    assert normalize_usage("openai", split) == TokenCounts(prompt=476, cache_read=1024)


def test_openrouter_cache_writes_inside_prompt_tokens() -> None:
    usage = {
        "prompt_tokens": 194,
        "completion_tokens": 2,
        "total_tokens": 196,
        "prompt_tokens_details": {"cached_tokens": 50, "cache_write_tokens": 100},
        "completion_tokens_details": {"reasoning_tokens": 0},
        "cost": 0.95,  # not a token count: ignored, never parsed
    }
    assert normalize_usage("openai", usage) == TokenCounts(
        prompt=44, completion=2, cache_write=100, cache_read=50
    )


def test_openai_cached_above_prompt_is_an_error() -> None:
    usage = {"prompt_tokens": 100, "prompt_tokens_details": {"cached_tokens": 150}}
    with pytest.raises(InvalidRequest) as info:
        normalize_usage("openai", usage)
    assert info.value.extra["field"] == "provider_usage.usage.prompt_tokens_details.cached_tokens"
    assert "provider_usage.usage.prompt_tokens" in info.value.detail


# --- Anthropic -----------------------------------------------------------------


def test_anthropic_input_tokens_exclude_cache() -> None:
    usage = {
        "input_tokens": 1000,
        "cache_creation_input_tokens": 1000,
        "cache_read_input_tokens": 5000,
        "output_tokens": 200,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 0},
        "server_tool_use": {"web_search_requests": 0},
        "service_tier": "standard",
    }
    # The flat field wins; the split is the same tokens, not more.
    assert normalize_usage("anthropic", usage) == TokenCounts(
        prompt=1000, completion=200, cache_write=1000, cache_read=5000
    )


def test_anthropic_cache_creation_split_without_flat_field() -> None:
    usage = {
        "input_tokens": 3,
        "cache_read_input_tokens": 0,
        "output_tokens": 42,
        "cache_creation": {"ephemeral_5m_input_tokens": 600, "ephemeral_1h_input_tokens": 400},
    }
    assert normalize_usage("anthropic", usage) == TokenCounts(
        prompt=3, completion=42, cache_write=1000
    )


def test_anthropic_streaming_delta_with_output_only() -> None:
    assert normalize_usage("anthropic", {"output_tokens": 15}) == TokenCounts(completion=15)


# --- Google --------------------------------------------------------------------

GEMINI = {
    "promptTokenCount": 1200,
    "candidatesTokenCount": 300,
    "totalTokenCount": 1950,
    "cachedContentTokenCount": 1000,
    "thoughtsTokenCount": 400,
    "toolUsePromptTokenCount": 50,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1200}],
    "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 1000}],
}
GEMINI_COUNTS = TokenCounts(prompt=250, completion=700, cache_read=1000)


def test_gemini_usage_metadata() -> None:
    assert normalize_usage("google", GEMINI) == GEMINI_COUNTS


def test_gemini_snake_case_and_wrapper() -> None:
    snake = {
        "prompt_token_count": 1200,
        "candidates_token_count": 300,
        "total_token_count": 1950,
        "cached_content_token_count": 1000,
        "thoughts_token_count": 400,
        "tool_use_prompt_token_count": 50,
    }
    assert normalize_usage("google", snake) == GEMINI_COUNTS
    assert normalize_usage("google", {"usageMetadata": GEMINI}) == GEMINI_COUNTS
    assert normalize_usage("google", {"usage_metadata": snake}) == GEMINI_COUNTS


def test_gemini_cached_above_prompt_is_an_error() -> None:
    with pytest.raises(InvalidRequest) as info:
        normalize_usage("google", {"usageMetadata": {**GEMINI, "cachedContentTokenCount": 1201}})
    field = "provider_usage.usage.usageMetadata.cachedContentTokenCount"
    assert info.value.extra["field"] == field


# --- Bedrock -------------------------------------------------------------------


def test_bedrock_converse() -> None:
    usage = {
        "inputTokens": 20,
        "outputTokens": 150,
        "totalTokens": 5170,
        "cacheReadInputTokens": 4000,
        "cacheWriteInputTokens": 1000,
    }
    assert normalize_usage("bedrock", usage) == TokenCounts(
        prompt=20, completion=150, cache_write=1000, cache_read=4000
    )


# --- refusals ------------------------------------------------------------------


@pytest.mark.parametrize("bad", [True, 1.0, 12.5, "12", -1, [1], {"n": 1}])
@pytest.mark.parametrize(
    ("fmt", "field", "path"),
    [
        ("openai", "prompt_tokens", "provider_usage.usage.prompt_tokens"),
        ("openai", "completion_tokens", "provider_usage.usage.completion_tokens"),
        ("anthropic", "cache_read_input_tokens", "provider_usage.usage.cache_read_input_tokens"),
        ("google", "thoughtsTokenCount", "provider_usage.usage.thoughtsTokenCount"),
        ("bedrock", "inputTokens", "provider_usage.usage.inputTokens"),
    ],
)
def test_counts_must_be_non_negative_ints(bad: object, fmt: str, field: str, path: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        normalize_usage(fmt, {field: bad})
    assert info.value.extra["field"] == path
    assert path in info.value.detail


def test_nested_count_error_names_full_path() -> None:
    usage = {"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": -2}}
    with pytest.raises(InvalidRequest) as info:
        normalize_usage("openai", usage)
    assert info.value.extra["field"] == "provider_usage.usage.prompt_tokens_details.cached_tokens"


@pytest.mark.parametrize(
    ("fmt", "usage", "path"),
    [
        ("openai", [1, 2], "provider_usage.usage"),
        ("openai", {"prompt_tokens_details": 5}, "provider_usage.usage.prompt_tokens_details"),
        ("anthropic", {"cache_creation": "x"}, "provider_usage.usage.cache_creation"),
    ],
)
def test_objects_must_be_objects(fmt: str, usage: Any, path: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        normalize_usage(fmt, usage)
    assert info.value.extra["field"] == path


@pytest.mark.parametrize("fmt", ["azure", "OpenAI ", "", None])
def test_unknown_format(fmt: Any) -> None:
    with pytest.raises(InvalidRequest) as info:
        normalize_usage(fmt, {"prompt_tokens": 1})
    assert info.value.extra["field"] == "provider_usage.format"
    assert "provider_usage.format" in info.value.detail


def test_empty_usage_is_zero() -> None:
    for fmt in ("openai", "anthropic", "google", "bedrock"):
        assert normalize_usage(fmt, {}) == TokenCounts()
