"""Provider usage objects -> disjoint token counts (prompt, completion, cache).

Providers overlap their counts differently; getting this wrong double-counts
or drops cache tokens:
- OpenAI chat completions: ``prompt_tokens`` INCLUDES
  ``prompt_tokens_details.cached_tokens`` (and OpenRouter's
  ``cache_write_tokens``); ``completion_tokens`` include reasoning tokens.
  The Responses API has the same rule with ``input_tokens``/``output_tokens``.
  DeepSeek reports ``prompt_cache_hit_tokens`` + ``prompt_cache_miss_tokens``.
- Anthropic: ``input_tokens`` EXCLUDES ``cache_creation_input_tokens`` and
  ``cache_read_input_tokens``.
- Gemini: ``promptTokenCount`` INCLUDES ``cachedContentTokenCount``;
  ``thoughtsTokenCount`` is billed as output next to ``candidatesTokenCount``;
  ``toolUsePromptTokenCount`` is extra input.
- Bedrock Converse: ``inputTokens`` EXCLUDES ``cacheReadInputTokens`` and
  ``cacheWriteInputTokens``.

Every count must be a non-negative JSON integer; anything else is refused
with an error naming the field path, never coerced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from billing.errors import InvalidRequest
from billing.pricing.types import TokenCounts

ROOT = "provider_usage.usage"
FORMATS: tuple[str, ...] = ("openai", "anthropic", "google", "bedrock")


class _Fields:
    """Read counts from one usage mapping, naming the path on any error."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise InvalidRequest(f"{path} must be an object", field=path)
        self.data: Mapping[str, object] = data
        self.path = path

    def has(self, *names: str) -> bool:
        return any(self.data.get(name) is not None for name in names)

    def count(self, *names: str) -> int:
        """The first present (non-null) of ``names``; 0 when none is present."""
        for name in names:
            value = self.data.get(name)
            if value is None:
                continue
            where = f"{self.path}.{name}"
            if type(value) is not int:  # bool, float and str are refused
                raise InvalidRequest(f"{where} must be an integer", field=where)
            if value < 0:
                raise InvalidRequest(f"{where} must not be negative", field=where)
            return value
        return 0

    def child(self, *names: str) -> _Fields:
        """A nested object (the first present of ``names``); empty when absent or null."""
        for name in names:
            value = self.data.get(name)
            if value is not None:
                return _Fields(value, f"{self.path}.{name}")
        return _Fields({}, f"{self.path}.{names[0]}")


def _excluding(total: int, total_path: str, *parts: tuple[int, str]) -> int:
    """``total`` minus ``parts`` where the provider's ``total`` includes them."""
    included = sum(count for count, _ in parts)
    if included > total:
        names = " + ".join(path for _, path in parts)
        raise InvalidRequest(
            f"{names} ({included}) exceeds {total_path} ({total}), which includes it",
            field=parts[0][1],
        )
    return total - included


# (input total, output, details object) of the two OpenAI response shapes.
_CHAT = ("prompt_tokens", "completion_tokens", "prompt_tokens_details")
_RESPONSES = ("input_tokens", "output_tokens", "input_tokens_details")


def _openai(usage: _Fields) -> TokenCounts:
    responses_api = usage.has("input_tokens", "output_tokens") and not usage.has(
        "prompt_tokens", "completion_tokens"
    )
    total_name, out_name, details_name = _RESPONSES if responses_api else _CHAT
    details = usage.child(details_name)
    if usage.has(total_name) or not usage.has("prompt_cache_miss_tokens"):
        total, total_path = usage.count(total_name), f"{usage.path}.{total_name}"
    else:  # DeepSeek-style split without the total
        total = usage.count("prompt_cache_hit_tokens") + usage.count("prompt_cache_miss_tokens")
        total_path = f"{usage.path}.prompt_cache_hit_tokens + prompt_cache_miss_tokens"
    if details.has("cached_tokens"):
        cached = (details.count("cached_tokens"), f"{details.path}.cached_tokens")
    else:  # DeepSeek
        cached = (usage.count("prompt_cache_hit_tokens"), f"{usage.path}.prompt_cache_hit_tokens")
    # OpenRouter reports cache writes inside the prompt total too.
    written = (details.count("cache_write_tokens"), f"{details.path}.cache_write_tokens")
    return TokenCounts(
        prompt=_excluding(total, total_path, cached, written),
        completion=usage.count(out_name),
        cache_write=written[0],
        cache_read=cached[0],
    )


def _anthropic(usage: _Fields) -> TokenCounts:
    if usage.has("cache_creation_input_tokens"):
        written = usage.count("cache_creation_input_tokens")
    else:
        split = usage.child("cache_creation")
        written = split.count("ephemeral_5m_input_tokens") + split.count(
            "ephemeral_1h_input_tokens"
        )
    return TokenCounts(
        prompt=usage.count("input_tokens"),
        completion=usage.count("output_tokens"),
        cache_write=written,
        cache_read=usage.count("cache_read_input_tokens"),
    )


def _google(usage: _Fields) -> TokenCounts:
    # Accept the whole response's wrapper as well as the usageMetadata object.
    if usage.has("usageMetadata", "usage_metadata"):
        usage = usage.child("usageMetadata", "usage_metadata")
    total_name = "promptTokenCount" if usage.has("promptTokenCount") else "prompt_token_count"
    cached_name = (
        "cachedContentTokenCount"
        if usage.has("cachedContentTokenCount")
        else "cached_content_token_count"
    )
    cached = usage.count(cached_name)
    total_path, cached_path = f"{usage.path}.{total_name}", f"{usage.path}.{cached_name}"
    prompt = _excluding(usage.count(total_name), total_path, (cached, cached_path))
    tool_prompt = usage.count("toolUsePromptTokenCount", "tool_use_prompt_token_count")
    completion = usage.count("candidatesTokenCount", "candidates_token_count") + usage.count(
        "thoughtsTokenCount", "thoughts_token_count"
    )
    return TokenCounts(prompt=prompt + tool_prompt, completion=completion, cache_read=cached)


def _bedrock(usage: _Fields) -> TokenCounts:
    return TokenCounts(
        prompt=usage.count("inputTokens"),
        completion=usage.count("outputTokens"),
        cache_write=usage.count("cacheWriteInputTokens"),
        cache_read=usage.count("cacheReadInputTokens"),
    )


_PARSERS: dict[str, Callable[[_Fields], TokenCounts]] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "google": _google,
    "bedrock": _bedrock,
}


def normalize_usage(fmt: str, usage: Mapping[str, object]) -> TokenCounts:
    """Disjoint counts from a raw provider usage object in format ``fmt``."""
    parser = _PARSERS.get(fmt) if isinstance(fmt, str) else None
    if parser is None:
        raise InvalidRequest(
            f"provider_usage.format must be one of {', '.join(FORMATS)}",
            field="provider_usage.format",
        )
    return parser(_Fields(usage, ROOT))
