"""Reject oversized request bodies before they are read into memory.

413 ``payload_too_large`` over ``BILLING_MAX_BODY_BYTES`` (billing/api/front.py):
Content-Length is checked up front and streamed chunks are counted, so a
client that lies about (or omits) the length is cut off too.
"""

from __future__ import annotations

from billing.api.errors import error_bytes


def declares_too_much(content_length: bytes, max_bytes: int) -> bool:
    try:
        return int(content_length) > max_bytes
    except ValueError:
        return False


def too_large_answer(max_bytes: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of the 413."""
    body = error_bytes("payload_too_large", f"request body exceeds the limit of {max_bytes} bytes")
    return 413, [(b"content-type", b"application/json")], body


class BodyTooLarge(Exception):
    """Raised to the reader of the body by the receive that went over the limit."""
