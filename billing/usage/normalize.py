"""Provider usage objects -> disjoint token counts (prompt, completion, cache).

Providers overlap their counts differently; getting this wrong double-counts
or drops tokens:
- OpenAI chat completions: ``prompt_tokens`` INCLUDES
  ``prompt_tokens_details.cached_tokens`` (and OpenRouter's
  ``cache_write_tokens``); ``completion_tokens`` include reasoning tokens.
  The Responses API has the same rule with ``input_tokens``/``output_tokens``,
  and so does the Realtime API (``input_token_details``, singular "token").
  DeepSeek reports ``prompt_cache_hit_tokens`` + ``prompt_cache_miss_tokens``.
- xAI (OpenAI-compatible, and the xai-sdk ``SamplingUsage`` with
  ``cached_prompt_text_tokens`` and a top-level ``reasoning_tokens``) reports
  reasoning tokens OUTSIDE ``completion_tokens``: ``total_tokens`` = input +
  completion + reasoning. Whenever ``total_tokens`` says so, reasoning is
  billed as completion on top of ``completion_tokens``.
- Anthropic: ``input_tokens`` EXCLUDES ``cache_creation_input_tokens`` and
  ``cache_read_input_tokens``; ``cache_creation.ephemeral_1h_input_tokens``
  (part of ``cache_creation_input_tokens``) are 1-hour writes, billed apart.
- Gemini: ``promptTokenCount`` INCLUDES ``cachedContentTokenCount``;
  ``thoughtsTokenCount`` is billed as output next to ``candidatesTokenCount``;
  ``toolUsePromptTokenCount`` is extra input.
- Bedrock Converse: ``inputTokens`` EXCLUDES ``cacheReadInputTokens`` and
  ``cacheWriteInputTokens``; ``cacheDetails`` splits the writes by TTL.

Cached counts above the total that should include them are seen in the wild
(a proxy reporting the total without them). That total cannot include them,
so both are billed as reported, as separate counts, and the event carries a
``cached_exceeds_input`` warning instead of losing the usage.

Every count must be a non-negative JSON integer; anything else is refused
with an error naming the field path, never coerced. A usage object with no
token count of its format at all is refused too (explicit zeros are fine).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from billing.errors import InvalidRequest
from billing.frozen import fast_constructor
from billing.pricing.types import TokenCounts

ROOT = "provider_usage.usage"
CACHED_EXCEEDS_INPUT = "cached_exceeds_input"


@dataclass(frozen=True, slots=True)
class UsageWarning:
    """Something odd in accepted usage: a stable ``code`` and the field it is about."""

    code: str
    field: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class Normalized:
    counts: TokenCounts
    warnings: tuple[UsageWarning, ...] = ()


class _Reading:
    """State shared by the _Fields of one usage object."""

    __slots__ = ("found", "warnings")

    def __init__(self) -> None:
        self.found = False  # any recognised count present (zeros included)
        self.warnings: list[UsageWarning] = []


class _Fields:
    """Read counts from one usage mapping, naming the path on any error."""

    def __init__(self, data: object, path: str, reading: _Reading) -> None:
        if not isinstance(data, Mapping):
            raise InvalidRequest(f"{path} must be an object", field=path)
        self.data: Mapping[str, object] = data
        self.path = path
        self.reading = reading

    def has(self, *names: str) -> bool:
        return any(self.data.get(name) is not None for name in names)

    def first(self, *names: str) -> str:
        """The first present of ``names`` (the first one when none is)."""
        return next((name for name in names if self.data.get(name) is not None), names[0])

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
            self.reading.found = True
            return value
        return 0

    def child(self, *names: str) -> _Fields:
        """A nested object (the first present of ``names``); empty when absent or null."""
        name = self.first(*names)
        value = self.data.get(name)
        return _Fields({} if value is None else value, f"{self.path}.{name}", self.reading)

    def items(self, name: str) -> list[_Fields]:
        """The objects of a nested array; none when absent or null."""
        value = self.data.get(name)
        if value is None:
            return []
        where = f"{self.path}.{name}"
        if not isinstance(value, list):
            raise InvalidRequest(f"{where} must be an array", field=where)
        return [_Fields(item, f"{where}[{i}]", self.reading) for i, item in enumerate(value)]


def _excluding(usage: _Fields, total: int, total_path: str, *parts: tuple[int, str]) -> int:
    """``total`` minus ``parts`` where the provider's ``total`` includes them.

    Parts above the total show a total that left them out: the total is then
    the uncached count (the parts are billed as reported) and a warning says so.
    """
    included = sum(count for count, _ in parts)
    if included <= total:
        return total - included
    names = " + ".join(path for count, path in parts if count)
    usage.reading.warnings.append(
        UsageWarning(
            CACHED_EXCEEDS_INPUT,
            next(path for count, path in parts if count),
            f"{names} ({included}) exceeds {total_path} ({total}), which should include it; "
            f"billed as separate counts: {total} uncached + {included} cache",
        )
    )
    return total


# Input total, output, and their details objects of the OpenAI-style shapes;
# camelCase is the xai-sdk protobuf as JSON (MessageToDict).
_CHAT = (
    ("prompt_tokens", "promptTokens"),
    ("completion_tokens", "completionTokens"),
    ("prompt_tokens_details",),
    ("completion_tokens_details",),
)
_RESPONSES = (  # also Realtime, whose details names say "token"
    ("input_tokens",),
    ("output_tokens",),
    ("input_tokens_details", "input_token_details"),
    ("output_tokens_details", "output_token_details"),
)


def _openai(usage: _Fields) -> TokenCounts:
    responses_api = usage.has("input_tokens", "output_tokens") and not usage.has(
        "prompt_tokens", "completion_tokens", "promptTokens", "completionTokens"
    )
    total_names, out_names, in_details, out_details = _RESPONSES if responses_api else _CHAT
    details = usage.child(*in_details)
    if usage.has(*total_names) or not usage.has("prompt_cache_miss_tokens"):
        total_name = usage.first(*total_names)
        total, total_path = usage.count(total_name), f"{usage.path}.{total_name}"
    else:  # DeepSeek-style split without the total
        total = usage.count("prompt_cache_hit_tokens") + usage.count("prompt_cache_miss_tokens")
        total_path = f"{usage.path}.prompt_cache_hit_tokens + prompt_cache_miss_tokens"
    if details.has("cached_tokens"):
        cached = (details.count("cached_tokens"), f"{details.path}.cached_tokens")
    elif usage.has("prompt_cache_hit_tokens"):  # DeepSeek
        cached = (usage.count("prompt_cache_hit_tokens"), f"{usage.path}.prompt_cache_hit_tokens")
    else:  # xai-sdk
        name = usage.first("cached_prompt_text_tokens", "cachedPromptTextTokens")
        cached = (usage.count(name), f"{usage.path}.{name}")
    # OpenRouter reports cache writes inside the prompt total too.
    written = (details.count("cache_write_tokens"), f"{details.path}.cache_write_tokens")
    prompt = _excluding(usage, total, total_path, cached, written)
    completion = usage.count(*out_names)
    reasoning = usage.child(*out_details).count("reasoning_tokens") or usage.count(
        "reasoning_tokens", "reasoningTokens"
    )
    if reasoning:
        # xAI: the total counts reasoning beside completion, not inside it.
        reported_total = usage.count("total_tokens", "totalTokens")
        if reported_total == prompt + cached[0] + written[0] + completion + reasoning:
            completion += reasoning
    return TokenCounts(
        prompt=prompt, completion=completion, cache_write=written[0], cache_read=cached[0]
    )


def _split_writes(all_writes: int | None, one_hour: int, five_minutes: int) -> tuple[int, int]:
    """(5-minute, 1-hour) writes from the total of both (when given) and the TTL split."""
    if all_writes is not None and one_hour <= all_writes:
        return all_writes - one_hour, one_hour
    return five_minutes, one_hour  # no total, or one below its own part: the split


def _anthropic(usage: _Fields) -> TokenCounts:
    split = usage.child("cache_creation")
    flat = usage.has("cache_creation_input_tokens")
    five_minutes, one_hour = _split_writes(
        usage.count("cache_creation_input_tokens") if flat else None,
        split.count("ephemeral_1h_input_tokens"),
        split.count("ephemeral_5m_input_tokens"),
    )
    return TokenCounts(
        prompt=usage.count("input_tokens"),
        completion=usage.count("output_tokens"),
        cache_write=five_minutes,
        cache_read=usage.count("cache_read_input_tokens"),
        cache_write_1h=one_hour,
    )


def _google(usage: _Fields) -> TokenCounts:
    # Accept the whole response's wrapper as well as the usageMetadata object.
    if usage.has("usageMetadata", "usage_metadata"):
        usage = usage.child("usageMetadata", "usage_metadata")
    total_name = usage.first("promptTokenCount", "prompt_token_count")
    cached_name = usage.first("cachedContentTokenCount", "cached_content_token_count")
    cached = usage.count(cached_name)
    total_path, cached_path = f"{usage.path}.{total_name}", f"{usage.path}.{cached_name}"
    prompt = _excluding(usage, usage.count(total_name), total_path, (cached, cached_path))
    tool_prompt = usage.count("toolUsePromptTokenCount", "tool_use_prompt_token_count")
    completion = usage.count("candidatesTokenCount", "candidates_token_count") + usage.count(
        "thoughtsTokenCount", "thoughts_token_count"
    )
    return TokenCounts(prompt=prompt + tool_prompt, completion=completion, cache_read=cached)


def _bedrock(usage: _Fields) -> TokenCounts:
    one_hour = other_ttl = 0  # any TTL but 1h is billed as a (5-minute) cache write
    for detail in usage.items("cacheDetails"):
        if detail.data.get("ttl") == "1h":
            one_hour += detail.count("inputTokens")
        else:
            other_ttl += detail.count("inputTokens")
    flat = usage.has("cacheWriteInputTokens")
    five_minutes, one_hour = _split_writes(
        usage.count("cacheWriteInputTokens") if flat else None, one_hour, other_ttl
    )
    return TokenCounts(
        prompt=usage.count("inputTokens"),
        completion=usage.count("outputTokens"),
        cache_write=five_minutes,
        cache_read=usage.count("cacheReadInputTokens"),
        cache_write_1h=one_hour,
    )


# format -> (parser, the fields a usage object of it must have at least one of)
_FORMATS: dict[str, tuple[Callable[[_Fields], TokenCounts], str]] = {
    "openai": (_openai, "prompt_tokens/completion_tokens or input_tokens/output_tokens"),
    "xai": (
        _openai,
        "prompt_tokens/completion_tokens (also the xai-sdk's reasoning_tokens, "
        "cached_prompt_text_tokens) or input_tokens/output_tokens",
    ),
    "anthropic": (
        _anthropic,
        "input_tokens, output_tokens, cache_creation_input_tokens or cache_read_input_tokens",
    ),
    "google": (_google, "promptTokenCount, candidatesTokenCount (or the usageMetadata object)"),
    "bedrock": (
        _bedrock,
        "inputTokens, outputTokens, cacheReadInputTokens or cacheWriteInputTokens",
    ),
}
FORMATS: tuple[str, ...] = tuple(_FORMATS)


def read_usage(fmt: str, usage: Mapping[str, object]) -> Normalized:
    """Disjoint counts (and any warnings) from a raw provider usage object in format ``fmt``."""
    entry = _FORMATS.get(fmt) if isinstance(fmt, str) else None
    if entry is None:
        raise InvalidRequest(
            f"provider_usage.format must be one of {', '.join(FORMATS)}",
            field="provider_usage.format",
        )
    parser, expected = entry
    reading = _Reading()
    counts = parser(_Fields(usage, ROOT, reading))
    if not reading.found:
        raise InvalidRequest(
            f"{ROOT} has no token count of the {fmt} format: expected {expected} "
            "(the provider's usage object as returned, zeros allowed)",
            field=ROOT,
        )
    return Normalized(counts, tuple(reading.warnings)) if reading.warnings else Normalized(counts)


def normalize_usage(fmt: str, usage: Mapping[str, object]) -> TokenCounts:
    """Disjoint counts from a raw provider usage object in format ``fmt``."""
    return read_usage(fmt, usage).counts


class _TokenSource(Protocol):
    def to_counts(self) -> TokenCounts: ...


class _ProviderSource(Protocol):
    @property
    def format(self) -> str: ...
    @property
    def usage(self) -> Mapping[str, object]: ...


def event_usage(tokens: _TokenSource | None, provider_usage: _ProviderSource | None) -> Normalized:
    """An event's disjoint counts: from ``provider_usage`` when sent, else ``tokens``,
    else none (for both ways an event is decoded: pydantic and billing/usage/fast_body.py)."""
    if provider_usage is not None:
        return read_usage(provider_usage.format, provider_usage.usage)
    return _counts_only(tokens.to_counts() if tokens is not None else TokenCounts(), ())


_counts_only: Callable[[TokenCounts, tuple[UsageWarning, ...]], Normalized] = fast_constructor(
    Normalized
)  # per event on the ingest path (billing/frozen.py)
