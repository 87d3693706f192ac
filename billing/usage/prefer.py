"""The ``Prefer`` request header (RFC 7240), as far as POST /v1/usage reads it."""

from __future__ import annotations

from collections.abc import Iterable


def prefers_minimal(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether the request's first ``return`` preference is ``minimal``.

    RFC 7240: preferences are comma-separated, each ``name[=value]`` with
    optional ``;parameters``; names are case-insensitive, a value may be
    quoted, and only the first instance of a preference counts.
    """
    for name, value in headers:
        if name != b"prefer":  # ASGI header names are lower case
            continue
        for preference in value.decode("latin-1").split(","):
            token, _, word = preference.split(";", 1)[0].partition("=")
            if token.strip().lower() == "return":
                return word.strip().strip('"').lower() == "minimal"
    return False
