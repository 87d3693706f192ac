"""What differs between the provider APIs the gateway speaks: the upstream path,
where the input and the output cap are in a request, where the usage is in an
answer, and how a stream reports it.

Stream readers see each server-sent event once, in order, and say whether it is
passed on; they keep the provider's usage object and the characters streamed
(the estimate for a stream cut short before the usage arrived).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from billing.gateway.errors import ANTHROPIC, OPENAI
from billing.gateway.estimate import completion_cap, walk


class StreamReader:
    def __init__(self, client_wants_usage: bool) -> None:
        self.client_wants_usage = client_wants_usage
        self.usage: dict[str, Any] | None = None
        self.chars = 0
        self.finished = False  # the stream's own end marker arrived

    def event(self, data: bytes) -> bool:
        """Read one event's data; True to pass the event on."""
        raise NotImplementedError

    def _count(self, *values: Any) -> None:
        for value in values:
            if isinstance(value, str):
                self.chars += len(value)


def _load(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


class ChatCompletionsReader(StreamReader):
    """``data: {chat.completion.chunk}`` events and ``data: [DONE]``; the usage
    comes in a last chunk with no choices (stream_options.include_usage)."""

    def event(self, data: bytes) -> bool:
        if data == b"[DONE]":
            self.finished = True
            return True
        chunk = _load(data)
        if not isinstance(chunk, dict):
            return True
        usage = chunk.get("usage")
        if isinstance(usage, dict) and usage:
            self.usage = usage
        choices = chunk.get("choices")
        if choices:
            for choice in choices:
                delta = choice.get("delta") if isinstance(choice, dict) else None
                if isinstance(delta, dict):
                    self._count(
                        delta.get("content"),
                        delta.get("reasoning_content"),
                        delta.get("reasoning"),
                        delta.get("refusal"),
                    )
                    for call in delta.get("tool_calls") or ():
                        function = call.get("function") if isinstance(call, dict) else None
                        if isinstance(function, dict):
                            self._count(function.get("arguments"), function.get("name"))
            return True
        # The usage-only chunk the gateway asked for: not shown to a client that did not.
        return self.client_wants_usage or not usage


class ResponsesReader(StreamReader):
    """Responses API events; ``response.completed`` (or incomplete/failed) carries the usage."""

    _DONE = frozenset({"response.completed", "response.incomplete", "response.failed"})

    def event(self, data: bytes) -> bool:
        event = _load(data)
        if not isinstance(event, dict):
            return True
        kind = event.get("type")
        if isinstance(kind, str) and kind.endswith(".delta"):
            self._count(event.get("delta"))
        elif kind in self._DONE:
            response = event.get("response")
            usage = response.get("usage") if isinstance(response, dict) else None
            if isinstance(usage, dict):
                self.usage = usage
            self.finished = True
        return True


class MessagesReader(StreamReader):
    """Anthropic events: ``message_start`` holds the input usage, ``message_delta``
    the cumulative output (and, lately, updated input counts), ``message_stop`` ends."""

    def event(self, data: bytes) -> bool:
        event = _load(data)
        if not isinstance(event, dict):
            return True
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta")
            if isinstance(delta, dict):
                self._count(delta.get("text"), delta.get("partial_json"), delta.get("thinking"))
        elif kind == "message_start":
            message = event.get("message")
            usage = message.get("usage") if isinstance(message, dict) else None
            if isinstance(usage, dict):
                self.usage = dict(usage)
        elif kind == "message_delta":
            usage = event.get("usage")
            if isinstance(usage, dict):
                merged = dict(self.usage or {})
                merged.update({k: v for k, v in usage.items() if v is not None})
                self.usage = merged
        elif kind == "message_stop":
            self.finished = True
        return True


@dataclass(frozen=True, slots=True)
class Dialect:
    route: str  # the gateway's route after /gateway/{endpoint}
    errors: str  # openai | anthropic: the error shape and the kind of endpoint
    upstream_path: str  # appended to the endpoint's baseURL
    input_fields: tuple[str, ...]
    cap_fields: tuple[str, ...]  # the request's output cap, first found wins
    usage_format: str  # provider_usage.format (billing/usage/normalize.py)
    output_field: str | None  # where a non-streamed answer's text is (for an estimate)
    reader: type[StreamReader] | None  # None: the API does not stream

    def prepare_stream(self, body: dict[str, Any], may_add_options: bool) -> bool:
        """Ask an OpenAI chat stream for its usage; True when the client asked itself."""
        if self.reader is not ChatCompletionsReader:
            return True
        options = body.get("stream_options")
        wants = isinstance(options, dict) and options.get("include_usage") is True
        if not wants and may_add_options:
            body["stream_options"] = {**(options or {}), "include_usage": True}
        return wants

    def completion_estimate(self, body: dict[str, Any], default: int) -> int:
        # An API without an output cap (embeddings) produces no completion tokens.
        return completion_cap(body, self.cap_fields, default) if self.cap_fields else 0

    def usage_of(self, answer: Any) -> dict[str, Any] | None:
        usage = answer.get("usage") if isinstance(answer, dict) else None
        return usage if isinstance(usage, dict) and usage else None

    def output_chars(self, answer: Any) -> int:
        if self.output_field is None or not isinstance(answer, dict):
            return 0
        return walk(answer.get(self.output_field))[0]


CHAT_COMPLETIONS = Dialect(
    "/v1/chat/completions",
    OPENAI,
    "/chat/completions",
    ("messages", "tools", "functions"),
    ("max_completion_tokens", "max_tokens"),
    "openai",
    "choices",
    ChatCompletionsReader,
)
RESPONSES = Dialect(
    "/v1/responses",
    OPENAI,
    "/responses",
    ("input", "instructions", "tools"),
    ("max_output_tokens",),
    "openai",
    "output",
    ResponsesReader,
)
EMBEDDINGS = Dialect("/v1/embeddings", OPENAI, "/embeddings", ("input",), (), "openai", None, None)
MESSAGES = Dialect(
    "/v1/messages",
    ANTHROPIC,
    "/v1/messages",
    ("system", "messages", "tools"),
    ("max_tokens",),
    "anthropic",
    "content",
    MessagesReader,
)
