"""Provider usage objects -> disjoint counts, on realistic payloads."""

from __future__ import annotations

from typing import Any

import pytest

from billing.errors import InvalidRequest
from billing.pricing.types import TokenCounts
from billing.usage.normalize import CACHED_EXCEEDS_INPUT, normalize_usage, read_usage

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


def test_openai_realtime_response_done_usage() -> None:
    # response.done of the Realtime API: "input_token_details" (singular "token"),
    # audio and text inside input_tokens, cached_tokens inside it too.
    usage = {
        "total_tokens": 2417,
        "input_tokens": 2226,
        "output_tokens": 191,
        "input_token_details": {
            "text_tokens": 1164,
            "audio_tokens": 1062,
            "image_tokens": 0,
            "cached_tokens": 1920,
            "cached_tokens_details": {"text_tokens": 1088, "audio_tokens": 832, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": 45, "audio_tokens": 146},
    }
    assert read_usage("openai", usage).counts == TokenCounts(
        prompt=306, completion=191, cache_read=1920
    )
    assert read_usage("openai", usage).warnings == ()


# --- xAI -------------------------------------------------------------------------

# Chat completions of a Grok reasoning model: reasoning_tokens are NOT inside
# completion_tokens (663 + 50 + 124 = 837 = total_tokens).
GROK_CHAT = {
    "prompt_tokens": 663,
    "completion_tokens": 50,
    "total_tokens": 837,
    "prompt_tokens_details": {
        "text_tokens": 663,
        "audio_tokens": 0,
        "image_tokens": 0,
        "cached_tokens": 640,
    },
    "completion_tokens_details": {
        "reasoning_tokens": 124,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
    "num_sources_used": 0,
}


@pytest.mark.parametrize("fmt", ["openai", "xai"])
def test_xai_reasoning_outside_completion_is_billed_as_completion(fmt: str) -> None:
    assert normalize_usage(fmt, GROK_CHAT) == TokenCounts(prompt=23, completion=174, cache_read=640)


def test_reasoning_inside_completion_is_not_counted_twice() -> None:
    # The same numbers the OpenAI way: total = prompt + completion.
    inside = {**GROK_CHAT, "completion_tokens": 174, "total_tokens": 837}
    assert normalize_usage("openai", inside).completion == 174
    # Without a total there is nothing to tell them apart: OpenAI's rule.
    no_total = {k: v for k, v in GROK_CHAT.items() if k != "total_tokens"}
    assert normalize_usage("openai", no_total).completion == 50


def test_xai_responses_api_reasoning_outside_output() -> None:
    usage = {
        "input_tokens": 1520,
        "input_tokens_details": {"cached_tokens": 1408},
        "output_tokens": 37,
        "output_tokens_details": {"reasoning_tokens": 311},
        "total_tokens": 1868,
        "num_sources_used": 0,
        "num_server_side_tools_used": 0,
    }
    assert normalize_usage("xai", usage) == TokenCounts(prompt=112, completion=348, cache_read=1408)


# The xai-sdk's SamplingUsage (gRPC), printed as JSON: top-level reasoning and
# cached counts; cached_prompt_text_tokens are inside prompt_tokens.
XAI_SDK = {
    "completion_tokens": 69,
    "prompt_tokens": 701,
    "total_tokens": 893,
    "prompt_text_tokens": 701,
    "reasoning_tokens": 123,
    "cached_prompt_text_tokens": 679,
}
XAI_SDK_COUNTS = TokenCounts(prompt=22, completion=192, cache_read=679)


def test_xai_sdk_sampling_usage() -> None:
    assert normalize_usage("xai", XAI_SDK) == XAI_SDK_COUNTS
    assert normalize_usage("openai", XAI_SDK) == XAI_SDK_COUNTS


def test_xai_sdk_sampling_usage_camel_case() -> None:
    # google.protobuf.json_format.MessageToDict without preserving_proto_field_name.
    camel = {
        "completionTokens": 69,
        "promptTokens": 701,
        "totalTokens": 893,
        "promptTextTokens": 701,
        "reasoningTokens": 123,
        "cachedPromptTextTokens": 679,
    }
    assert normalize_usage("xai", camel) == XAI_SDK_COUNTS


# --- cached above the input total -------------------------------------------------


def test_openai_cached_above_prompt_is_billed_as_reported_with_a_warning() -> None:
    # Grok via OpenRouter, seen in the wild: prompt_tokens without the cached ones.
    usage = {
        "prompt_tokens": 1210,
        "completion_tokens": 435,
        "total_tokens": 1645,
        "prompt_tokens_details": {"cached_tokens": 7662},
    }
    result = read_usage("openai", usage)
    assert result.counts == TokenCounts(prompt=1210, completion=435, cache_read=7662)
    (warning,) = result.warnings
    assert warning.code == CACHED_EXCEEDS_INPUT
    assert warning.field == "provider_usage.usage.prompt_tokens_details.cached_tokens"
    assert "provider_usage.usage.prompt_tokens (1210)" in warning.message
    assert warning.to_json()["code"] == "cached_exceeds_input"


def test_cache_reads_and_writes_above_prompt_are_both_kept() -> None:
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 80, "cache_write_tokens": 60},
    }
    result = read_usage("openai", usage)
    assert result.counts == TokenCounts(prompt=100, completion=5, cache_write=60, cache_read=80)
    assert [w.code for w in result.warnings] == [CACHED_EXCEEDS_INPUT]


def test_cached_equal_to_prompt_is_normal() -> None:
    usage = {"prompt_tokens": 150, "prompt_tokens_details": {"cached_tokens": 150}}
    result = read_usage("openai", usage)
    assert result.counts == TokenCounts(cache_read=150)
    assert result.warnings == ()


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


def test_anthropic_one_hour_writes_are_their_own_count() -> None:
    # Messages API with both TTLs: cache_creation_input_tokens is their sum.
    usage = {
        "input_tokens": 21,
        "cache_creation_input_tokens": 3188,
        "cache_read_input_tokens": 1024,
        "output_tokens": 393,
        "cache_creation": {"ephemeral_5m_input_tokens": 1105, "ephemeral_1h_input_tokens": 2083},
        "service_tier": "standard",
    }
    assert normalize_usage("anthropic", usage) == TokenCounts(
        prompt=21, completion=393, cache_write=1105, cache_read=1024, cache_write_1h=2083
    )


def test_anthropic_cache_creation_split_without_flat_field() -> None:
    usage = {
        "input_tokens": 3,
        "cache_read_input_tokens": 0,
        "output_tokens": 42,
        "cache_creation": {"ephemeral_5m_input_tokens": 600, "ephemeral_1h_input_tokens": 400},
    }
    assert normalize_usage("anthropic", usage) == TokenCounts(
        prompt=3, completion=42, cache_write=600, cache_write_1h=400
    )


def test_anthropic_flat_total_below_its_one_hour_part_bills_the_split() -> None:
    usage = {
        "input_tokens": 3,
        "output_tokens": 42,
        "cache_creation_input_tokens": 100,
        "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 400},
    }
    assert normalize_usage("anthropic", usage) == TokenCounts(
        prompt=3, completion=42, cache_write=20, cache_write_1h=400
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


def test_gemini_cached_above_prompt_is_billed_with_a_warning() -> None:
    result = read_usage("google", {"usageMetadata": {**GEMINI, "cachedContentTokenCount": 1201}})
    assert result.counts == TokenCounts(prompt=1250, completion=700, cache_read=1201)
    (warning,) = result.warnings
    assert warning.code == CACHED_EXCEEDS_INPUT
    assert warning.field == "provider_usage.usage.usageMetadata.cachedContentTokenCount"


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


def test_bedrock_cache_details_split_writes_by_ttl() -> None:
    # Converse with Claude and both cache TTLs (cacheDetails: 1h before 5m).
    usage = {
        "inputTokens": 12,
        "outputTokens": 310,
        "totalTokens": 9622,
        "cacheReadInputTokens": 6200,
        "cacheWriteInputTokens": 3100,
        "cacheDetails": [{"ttl": "1h", "inputTokens": 2048}, {"ttl": "5m", "inputTokens": 1052}],
    }
    assert normalize_usage("bedrock", usage) == TokenCounts(
        prompt=12, completion=310, cache_write=1052, cache_read=6200, cache_write_1h=2048
    )
    no_flat = {k: v for k, v in usage.items() if k != "cacheWriteInputTokens"}
    assert normalize_usage("bedrock", no_flat) == normalize_usage("bedrock", usage)


def test_bedrock_cache_details_must_be_an_array_of_objects() -> None:
    with pytest.raises(InvalidRequest) as info:
        normalize_usage("bedrock", {"inputTokens": 1, "cacheDetails": {"ttl": "1h"}})
    assert info.value.extra["field"] == "provider_usage.usage.cacheDetails"
    with pytest.raises(InvalidRequest) as info:
        normalize_usage("bedrock", {"inputTokens": 1, "cacheDetails": [3]})
    assert info.value.extra["field"] == "provider_usage.usage.cacheDetails[0]"


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


@pytest.mark.parametrize(
    ("fmt", "usage", "expected"),
    [
        ("openai", {}, "prompt_tokens"),
        ("openai", {"total_tokens": 120, "cost": 0.001}, "input_tokens"),
        ("xai", {"num_sources_used": 0}, "cached_prompt_text_tokens"),
        ("anthropic", {"service_tier": "standard"}, "cache_read_input_tokens"),
        ("google", {"usageMetadata": {"totalTokenCount": 9}}, "promptTokenCount"),
        ("bedrock", {"totalTokens": 9}, "inputTokens"),
        # Another provider's shape under the wrong format counts nothing.
        ("bedrock", {"prompt_tokens": 10, "completion_tokens": 2}, "outputTokens"),
    ],
)
def test_usage_without_any_count_of_its_format_is_refused(
    fmt: str, usage: dict[str, Any], expected: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        read_usage(fmt, usage)
    assert info.value.extra["field"] == "provider_usage.usage"
    assert expected in info.value.detail
    assert fmt in info.value.detail


@pytest.mark.parametrize(
    ("fmt", "zeros"),
    [
        ("openai", {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}),
        ("anthropic", {"input_tokens": 0, "output_tokens": 0}),
        ("google", {"promptTokenCount": 0}),
        ("bedrock", {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}),
    ],
)
def test_explicit_zero_usage_is_zero(fmt: str, zeros: dict[str, Any]) -> None:
    assert normalize_usage(fmt, zeros) == TokenCounts()
