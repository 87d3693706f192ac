"""Idempotency keys that neither leak nor swallow: a key is bound to its content.

A repeated key with the same content is a retry (answered as before); with
other content it is refused, ``idempotency_conflict`` (409), naming only the
fields that differ: the first request may be another user's, so nothing of
its values (user, cost, balance) may be shown.

Content is compared as a fingerprint first (blake2b of the canonical JSON of
the fields, cheap to compute and to compare) and field by field only to name
what differs, on the error path.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b

import orjson

from billing.errors import IdempotencyConflict


def fingerprint(values: Sequence[object]) -> bytes:
    """16 bytes that change with any of ``values`` (str, int or None, in a fixed order)."""
    return blake2b(orjson.dumps(values), digest_size=16).digest()


def differing(names: Sequence[str], ours: Sequence[object], theirs: Sequence[object]) -> list[str]:
    """The names whose values differ (``names``, ``ours`` and ``theirs`` aligned)."""
    return [name for name, a, b in zip(names, ours, theirs, strict=True) if a != b]


def conflict(where: str, key_name: str, key: str, fields: Sequence[str]) -> IdempotencyConflict:
    """The 409 for ``key`` reused with other content in ``fields`` (names only)."""
    return IdempotencyConflict(
        f"{where}{key_name} {key!r} was already used with other content"
        f" (differs in: {', '.join(fields)}); send a new {key_name} for a new request,"
        " or the very same content to retry",
        **{key_name: key},
        differing_fields=list(fields),
    )
