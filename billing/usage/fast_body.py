"""POST /v1/usage bodies decoded straight from the raw bytes, for the hot path.

The generic route (StrictJsonBody's ``json.loads`` with a Python hook per
object, then pydantic walking the document) costs ~15 ms of CPU per 1,000
events; msgspec decodes and type-checks the same bytes into structs in C.

The pydantic models (billing/usage/schemas.py) stay the rule book, the error
messages and the published schema. This decoder accepts a SUBSET of what they
accept, with the same result; whatever it does not accept (any error, an odd
but legal body) returns None, and the body takes the generic route, which
answers exactly as before. tests/usage/test_fast_body.py holds the two
together with hypothesis.

msgspec lets a repeated key win silently, which the generic route refuses:
the decoder counts the quotes its result accounts for (two per key, two per
string) against the ``"`` in the raw text, where a repeated key and its value
are still there; bodies with an escaped quote are sent the generic way.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from itertools import chain
from operator import attrgetter
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType, field
from pydantic import TypeAdapter, ValidationError

from billing.api.json_body import json_texts
from billing.api.schemas import MAX_TOKENS
from billing.pricing.types import TokenCounts, token_counts
from billing.usage.normalize import Normalized, event_usage

_Count = Annotated[int, Meta(ge=0, le=MAX_TOKENS)]
# Identifier and OptionalId (billing/api/schemas.py) but their pattern (no control
# characters): msgspec would run Python's re on every string, ~4 ms per 1,000
# events. A control character can only come escaped (raw ones are not JSON) or
# as a raw DEL, so decode_usage checks the ids itself when the body has either.
_Id = Annotated[str, Meta(min_length=1, max_length=200)]
_OptId = Annotated[str, Meta(max_length=200)]


class _Strict(Struct, forbid_unknown_fields=True, gc=False):
    """gc=False: decoded JSON holds no reference cycles, and ~2,000 tracked objects
    per batch would set off the cyclic collector (~0.7 ms per 1,000 events)."""


class FastTokens(_Strict):
    """TokensIn's fields; absent ones are UNSET (so the keys can be counted), read as 0."""

    prompt_: _Count | UnsetType = field(default=UNSET, name="prompt")
    completion_: _Count | UnsetType = field(default=UNSET, name="completion")
    cache_write_: _Count | UnsetType = field(default=UNSET, name="cache_write")
    cache_read_: _Count | UnsetType = field(default=UNSET, name="cache_read")
    cache_write_1h_: _Count | UnsetType = field(default=UNSET, name="cache_write_1h")

    @property
    def prompt(self) -> int:
        value = self.prompt_
        return 0 if value is UNSET else value

    @property
    def completion(self) -> int:
        value = self.completion_
        return 0 if value is UNSET else value

    @property
    def cache_write(self) -> int:
        value = self.cache_write_
        return 0 if value is UNSET else value

    @property
    def cache_read(self) -> int:
        value = self.cache_read_
        return 0 if value is UNSET else value

    @property
    def cache_write_1h(self) -> int:
        value = self.cache_write_1h_
        return 0 if value is UNSET else value

    def to_counts(self) -> TokenCounts:
        return token_counts(*[0 if v is UNSET else v for v in _token_values(self)])


_token_values = attrgetter(*FastTokens.__struct_fields__)


class FastProviderUsage(_Strict):
    format: Literal["openai", "xai", "anthropic", "google", "bedrock"]
    usage: dict[str, Any]


class FastEvent(_Strict):
    """One event with UsageEventIn's attribute interface (what service.prepare_events reads)."""

    event_id: _Id
    user_id: _Id
    endpoint: _Id
    model: _Id
    context_: _Id | UnsetType = field(default=UNSET, name="context")
    conversation_id_: _OptId | UnsetType | None = field(default=UNSET, name="conversation_id")
    message_id_: _OptId | UnsetType | None = field(default=UNSET, name="message_id")
    # Any JSON value here, then pydantic's own datetime rules (_sound): they are many.
    occurred_at_: Any = field(default=UNSET, name="occurred_at")
    tokens_: FastTokens | UnsetType | None = field(default=UNSET, name="tokens")
    provider_usage_: FastProviderUsage | UnsetType | None = field(
        default=UNSET, name="provider_usage"
    )
    reservation_id_: _OptId | UnsetType | None = field(default=UNSET, name="reservation_id")
    role_: _OptId | UnsetType | None = field(default=UNSET, name="role")

    @property
    def context(self) -> str:
        value = self.context_
        return "message" if value is UNSET else value

    @property
    def conversation_id(self) -> str | None:
        value = self.conversation_id_
        return None if value is UNSET else value

    @property
    def message_id(self) -> str | None:
        value = self.message_id_
        return None if value is UNSET else value

    @property
    def occurred_at(self) -> datetime | None:
        value = self.occurred_at_
        return None if value is UNSET else value

    @property
    def tokens(self) -> FastTokens | None:
        value = self.tokens_
        return None if value is UNSET else value

    @property
    def provider_usage(self) -> FastProviderUsage | None:
        value = self.provider_usage_
        return None if value is UNSET else value

    @property
    def reservation_id(self) -> str | None:
        value = self.reservation_id_
        return None if value is UNSET else value

    @property
    def role(self) -> str | None:
        value = self.role_
        return None if value is UNSET else value

    def normalized(self) -> Normalized:
        """As UsageEventIn.normalized: counts from tokens or from the provider's usage."""
        return event_usage(self.tokens, self.provider_usage)

    def token_counts(self) -> TokenCounts:
        return self.normalized().counts


class _Batch(_Strict):
    events: list[FastEvent]


# Counting what the decoded events hold (_quotes): fields read in C, many at a time.
_STRINGS = ("context_", "conversation_id_", "message_id_", "reservation_id_", "role_")
_strings = attrgetter(*_STRINGS)
_OTHERS = ("occurred_at_", "tokens_", "provider_usage_")
_others = attrgetter(*_OTHERS)
_occurred, _tokens, _usage = map(attrgetter, _OTHERS)
_REQUIRED = len(FastEvent.__struct_fields__) - len(_STRINGS) - len(_OTHERS)  # all strings

# Untyped numbers (inside provider_usage.usage) exact, as the generic parser keeps them.
_batch_decoder = msgspec.json.Decoder(_Batch, float_hook=Decimal)
_event_decoder = msgspec.json.Decoder(FastEvent, float_hook=Decimal)
_datetime: TypeAdapter[datetime] = TypeAdapter(datetime)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_IDS = attrgetter(
    "event_id",
    "user_id",
    "endpoint",
    "model",
    "context",
    "conversation_id",
    "message_id",
    "reservation_id",
    "role",
)


def _given(values: list[Any]) -> list[Any]:
    return [v for v in values if v is not None and v is not UNSET]


def _quotes(events: list[FastEvent]) -> int:
    """How many ``"`` the decoded events account for: two per key and per string.

    Equal to the quotes in the raw text (with no escaped quote in it) only if
    no key was repeated: a repeated key is lost in decoding, with its value.
    """
    n = len(events)
    strings = tuple(chain.from_iterable(map(_strings, events)))
    others = tuple(chain.from_iterable(map(_others, events)))
    keys = (_REQUIRED + len(_STRINGS) + len(_OTHERS)) * n
    keys -= strings.count(UNSET) + others.count(UNSET)
    texts = _REQUIRED * n + len(strings) - strings.count(UNSET) - strings.count(None)
    tokens = tuple(chain.from_iterable(map(_token_values, _given(list(map(_tokens, events))))))
    keys += len(tokens) - tokens.count(UNSET)
    for usage in _given(list(map(_usage, events))):
        keys += 2
        texts += 1 + json_texts(usage.usage)  # the format, the usage object
    for when in _given(list(map(_occurred, events))):  # pydantic takes strings, numbers
        texts += json_texts(when)
    return 2 * (keys + texts)


def _sound(event: FastEvent) -> bool:
    """UsageEventIn's own rules: exactly one token source; occurred_at parsed by pydantic."""
    has_tokens = event.tokens_ is not None and event.tokens_ is not UNSET
    has_usage = event.provider_usage_ is not None and event.provider_usage_ is not UNSET
    if has_tokens == has_usage:
        return False
    when = event.occurred_at_
    if when is not None and when is not UNSET:
        try:
            event.occurred_at_ = _datetime.validate_python(when)
        except ValidationError:
            return False
    return True


def _printable(event: FastEvent) -> bool:
    return not any(_CONTROL.search(i) for i in _IDS(event) if i is not None)


def decode_usage(raw: bytes) -> FastEvent | list[FastEvent] | None:
    """One event, or a batch's events (non-empty), exactly as the generic route would
    validate them; None when this decoder cannot be sure (the generic route decides)."""
    escaped = b"\\" in raw
    if escaped and b'\\"' in raw:
        return None
    try:
        if b'"events"' in raw:
            events = _batch_decoder.decode(raw).events
            quotes = 2  # "events"
            single = None
        else:
            single = _event_decoder.decode(raw)
            events = [single]
            quotes = 0
        if not events or _quotes(events) + quotes != raw.count(b'"'):
            return None
    except (msgspec.DecodeError, RecursionError, ArithmeticError):
        # ValidationError is a DecodeError; ArithmeticError: Decimal refusing a number
        # literal such as 1e99999999999999999999 (the generic route words that refusal).
        return None
    if not all(map(_sound, events)):
        return None
    if (escaped or b"\x7f" in raw) and not all(map(_printable, events)):
        return None
    return single if single is not None else events
