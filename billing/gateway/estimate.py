"""Tokens of a request before it is sent, for the hold.

No tokenizer: text is counted at ~4 characters a token (the providers' own rule
of thumb for English), an image or file at a fixed allowance instead of its
base64 length. The hold only has to be close: the recorded usage is the
provider's own count, and a hold that was too small is still charged in full.
"""

from __future__ import annotations

from typing import Any

CHARS_PER_TOKEN = 4
# An image or file in the input: a high-detail image is ~1,100 tokens at OpenAI
# and up to ~1,600 at Anthropic; base64 data is not text the model reads.
ATTACHMENT_TOKENS = 1600
# Role and framing tokens per message (OpenAI's cookbook counts 3-4).
MESSAGE_OVERHEAD = 4
_ATTACHMENT_TYPES = frozenset(
    {"image_url", "image", "input_image", "file", "input_file", "document", "input_audio"}
)


def tokens_of_chars(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


def input_tokens(body: dict[str, Any], fields: tuple[str, ...]) -> int:
    """Estimated input tokens of ``body``'s ``fields`` (messages, system, tools...)."""
    chars, attachments, messages = 0, 0, 0
    for name in fields:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, list) and name in ("messages", "input"):
            messages += len(value)
        found = walk(value)
        chars += found[0]
        attachments += found[1]
    return tokens_of_chars(chars) + attachments * ATTACHMENT_TOKENS + messages * MESSAGE_OVERHEAD


def walk(value: Any) -> tuple[int, int]:
    """(characters of text, attachments) in a JSON value."""
    if isinstance(value, str):
        return (0, 1) if value.startswith("data:") else (len(value), 0)
    if isinstance(value, list):
        chars = attachments = 0
        for item in value:
            if isinstance(item, int) and not isinstance(item, bool):
                chars += CHARS_PER_TOKEN  # a token id (embeddings input as token arrays)
                continue
            c, a = walk(item)
            chars += c
            attachments += a
        return chars, attachments
    if isinstance(value, dict):
        if value.get("type") in _ATTACHMENT_TYPES:
            return 0, 1
        chars = attachments = 0
        for item in value.values():
            c, a = walk(item)
            chars += c
            attachments += a
        return chars, attachments
    return 0, 0


def completion_cap(body: dict[str, Any], fields: tuple[str, ...], default: int) -> int:
    """The request's own output cap (the first of ``fields`` set), else ``default``;
    times ``n`` when several choices are asked for."""
    cap = default
    for name in fields:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            cap = value
            break
    choices = body.get("n")
    if isinstance(choices, int) and not isinstance(choices, bool) and choices > 1:
        cap *= choices
    return cap
