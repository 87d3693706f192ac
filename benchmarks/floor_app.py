"""A pure ASGI app with none of the service's work, for benchmarks/floor.py.

It reads the request's body and answers a fixed single-event answer of
``POST /v1/usage`` (the API's documented example of the full answer): what
uvicorn, uvloop and httptools cost per request on their own.
"""

from __future__ import annotations

from typing import Any

import orjson

from billing.usage.schemas import USAGE_ANSWER_EXAMPLES

ANSWER = orjson.dumps(USAGE_ANSWER_EXAMPLES["full"]["value"])
HEADERS = [(b"content-type", b"application/json")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":  # served with --lifespan off: nothing else comes
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})
