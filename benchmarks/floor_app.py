"""A pure ASGI app with none of the service's work, for benchmarks/floor.py.

It reads the request's body and answers a fixed single-event answer of
``POST /v1/usage`` (the README's first example, compact): what uvicorn,
uvloop and httptools cost per request on their own.
"""

from __future__ import annotations

from typing import Any

import orjson

ANSWER = orjson.dumps(
    {
        "accepted": 1,
        "duplicates": 0,
        "events": [
            {
                "event_id": "msg-1:1",
                "status": "accepted",
                "cost": {
                    "endpoint": "Claude-Compatible",
                    "model": "claude-sonnet-4-5",
                    "value_key": "claude-sonnet-4-5",
                    "priced_by": "token_config",
                    "context": "message",
                    "lines": {
                        "prompt": {"tokens": 1000, "rate": "3", "credits": "3000"},
                        "completion": {"tokens": 200, "rate": "15", "credits": "3000"},
                        "cache_write": {"tokens": 1000, "rate": "3.75", "credits": "3750"},
                        "cache_read": {"tokens": 5000, "rate": "0.3", "credits": "1500"},
                    },
                    "total_credits": "11250",
                    "total_usd": "0.01125",
                },
                "balance": "988750",
                "reservation": None,
            }
        ],
    }
)
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
