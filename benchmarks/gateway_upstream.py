"""A fast stand-in provider for the gateway benchmark: a raw ASGI app under
uvicorn answering /v1/chat/completions at once (JSON, or an SSE stream of 12
chunks with a usage chunk when asked), so the measurement is the gateway's
time, not the provider's. Run: uvicorn benchmarks.gateway_upstream:app."""

from __future__ import annotations

import json
from typing import Any

_USAGE = {"prompt_tokens": 52, "completion_tokens": 12, "total_tokens": 64}
_ANSWER = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "bench-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
                "finish_reason": "stop",
            }
        ],
        "usage": _USAGE,
    }
).encode()


def _chunk(delta: dict[str, Any], usage: bool) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1741569952,
        "model": "bench-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }
    if usage:
        body["choices"] = []
        body["usage"] = _USAGE
    return b"data: " + json.dumps(body).encode() + b"\n\n"


_WORDS = ["Hello", "!", " How", " can", " I", " help", " you", " today", "?", " Ask", " away"]
_STREAM = [_chunk({"role": "assistant", "content": ""}, False)] + [
    _chunk({"content": w}, False) for w in _WORDS
]
_STREAM_END = [_chunk({}, True), b"data: [DONE]\n\n"]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if b'"stream":true' not in body.replace(b" ", b""):
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(_ANSWER)),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": _ANSWER})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream")],
        }
    )
    for event in _STREAM:
        await send({"type": "http.response.body", "body": event, "more_body": True})
    await send({"type": "http.response.body", "body": b"".join(_STREAM_END), "more_body": False})
