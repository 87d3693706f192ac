"""Answer 408 when a request body stops arriving.

uvicorn waits for a body forever: a client that sends its headers and part of
the body holds the request (and its connection) open indefinitely. Here the
whole body must have arrived ``seconds`` after the request started; else the
answer is 408 ``request_timeout`` in the API's error shape and the connection
is closed (the rest of the body, if it ever comes, is not read as a request).
Waits after the body (for a disconnect) are not cut off.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billing import metrics


class BodyTimeout:
    """Pure ASGI middleware; wraps ``receive`` for the body only."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        body = json.dumps(
            {
                "error": "request_timeout",
                "detail": f"the request body did not arrive within {seconds:g} s;"
                " send the whole body without pauses",
            }
        ).encode()
        self._response_start: Message = {
            "type": "http.response.start",
            "status": 408,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
        self._response_body: Message = {"type": "http.response.body", "body": body}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        body_pending = True
        timed_out = False
        response_started = False

        async def timed_receive() -> Message:
            nonlocal body_pending, timed_out
            if not body_pending:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                raise BodyTimedOut from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_pending = False
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if timed_out:
                return  # whatever an inner layer made of the timeout: the 408 answers
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except Exception:
            if not timed_out:
                raise
        if timed_out and not response_started:
            metrics.record_timeout("body")
            start = self._response_start
            await send({**start, "headers": list(start["headers"])})
            await send(dict(self._response_body))


class BodyTimedOut(Exception):
    pass
