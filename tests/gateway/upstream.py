"""A small provider on 127.0.0.1 for the gateway tests and benchmark.

It answers like OpenAI's and Anthropic's APIs (shapes from their API references:
chat completions with ``usage`` and, streamed, ``chat.completion.chunk`` events
ending in a usage-only chunk when ``stream_options.include_usage`` is set and
``data: [DONE]``; Responses API ``response.completed``; Anthropic messages and
their ``message_start`` ... ``message_delta`` ... ``message_stop`` events), and
keeps every request it got, so tests can see what the gateway sent.

Behaviour per test: ``mode`` ``ok`` (default), ``error`` (500 in the
provider's shape), ``hang`` (never answers), ``slow_stream`` (a chunk every
50 ms until the reader goes away: ``cancelled`` is set then), ``no_usage``
(streams without a usage chunk), ``gzip`` (compressed answers, asked or not).
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORDS = ["Hello", "!", " How", " can", " I", " help", " you", " today", "?"]
PROMPT_TOKENS = 19
COMPLETION_TOKENS = 10
CACHED_TOKENS = 0


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Usage:
    prompt: int = PROMPT_TOKENS
    completion: int = COMPLETION_TOKENS


@dataclass
class FakeUpstream:
    mode: str = "ok"
    usage: Usage = field(default_factory=Usage)
    received: list[Received] = field(default_factory=list)
    cancelled: threading.Event = field(default_factory=threading.Event)
    delay: float = 0.0  # before answering (benchmarks: a model's think time)

    def __post_init__(self) -> None:
        upstream = self

        class Handler(_Handler):
            owner = upstream

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeUpstream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # The answers (bodies as the providers document them).
    def chat_completion(self, model: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
            "object": "chat.completion",
            "created": 1741569952,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "".join(WORDS),
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": self.openai_usage(),
            "service_tier": "default",
            "system_fingerprint": "fp_44709d6fcb",
        }

    def openai_usage(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.usage.prompt,
            "completion_tokens": self.usage.completion,
            "total_tokens": self.usage.prompt + self.usage.completion,
            "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def chat_chunks(self, model: str, include_usage: bool) -> list[bytes]:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            body: dict[str, Any] = {
                "id": "chatcmpl-123",
                "object": "chat.completion.chunk",
                "created": 1694268190,
                "model": model,
                "system_fingerprint": "fp_44709d6fcb",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                body["usage"] = None  # "All other chunks will also include a usage field"
            return body

        chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
        chunks += [chunk({"content": word}) for word in WORDS]
        chunks.append(chunk({}, "stop"))
        if include_usage and self.mode != "no_usage":
            last = chunk({})
            last["choices"] = []
            last["usage"] = self.openai_usage()
            chunks.append(last)
        events = [b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks]
        return [*events, b"data: [DONE]\n\n"]

    def message(self, model: str) -> dict[str, Any]:
        return {
            "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "".join(WORDS)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": self.usage.prompt,
                "output_tokens": self.usage.completion,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }

    def message_events(self, model: str) -> list[bytes]:
        def event(name: str, data: dict[str, Any]) -> bytes:
            return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

        start = self.message(model)
        start.update(content=[], stop_reason=None)
        start["usage"] = {
            "input_tokens": self.usage.prompt,
            "output_tokens": 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        events = [
            event("message_start", {"type": "message_start", "message": start}),
            event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            event("ping", {"type": "ping"}),
        ]
        events += [
            event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": w},
                },
            )
            for w in WORDS
        ]
        events.append(event("content_block_stop", {"type": "content_block_stop", "index": 0}))
        if self.mode != "no_usage":
            events.append(
                event(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                        "usage": {"output_tokens": self.usage.completion},
                    },
                )
            )
        events.append(event("message_stop", {"type": "message_stop"}))
        return events

    def response(self, model: str) -> dict[str, Any]:
        return {
            "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
            "object": "response",
            "created_at": 1741476542,
            "status": "completed",
            "model": model,
            "output": [
                {
                    "type": "message",
                    "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "".join(WORDS), "annotations": []}],
                }
            ],
            "usage": {
                "input_tokens": self.usage.prompt,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": self.usage.completion,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": self.usage.prompt + self.usage.completion,
            },
        }

    def embeddings(self, model: str, count: int) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "object": "embedding",
                    "embedding": [0.0023064255, -0.009327292, 0.015797347],
                    "index": i,
                }
                for i in range(count)
            ],
            "model": model,
            "usage": {"prompt_tokens": self.usage.prompt, "total_tokens": self.usage.prompt},
        }


class _Handler(BaseHTTPRequestHandler):
    owner: FakeUpstream
    protocol_version = "HTTP/1.1"

    def log_message(self, *_: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._record(None)
        self._json(
            200,
            {
                "object": "list",
                "data": [
                    {
                        "id": "upstream-model",
                        "object": "model",
                        "created": 0,
                        "owned_by": "upstream",
                    }
                ],
            },
        )

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        self._record(body)
        owner = self.owner
        if owner.delay:
            time.sleep(owner.delay)
        anthropic = self.path == "/v1/messages"
        if owner.mode == "hang":
            time.sleep(5)
            self.close_connection = True
            return
        if owner.mode == "error":
            if anthropic:
                error = {
                    "type": "error",
                    "error": {"type": "api_error", "message": "Internal server error"},
                }
            else:
                error = {
                    "error": {
                        "message": "The server had an error while processing your request.",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                }
            self._json(500, error)
            return
        model = body.get("model", "")
        stream = body.get("stream") is True
        if self.path == "/v1/chat/completions":
            if stream:
                options = body.get("stream_options") or {}
                self._stream(owner.chat_chunks(model, options.get("include_usage") is True))
            else:
                self._json(200, owner.chat_completion(model))
        elif anthropic:
            if stream:
                self._stream(owner.message_events(model))
            else:
                self._json(200, owner.message(model))
        elif self.path == "/v1/responses":
            self._json(200, owner.response(model))
        elif self.path == "/v1/embeddings":
            inputs = body.get("input")
            self._json(200, owner.embeddings(model, len(inputs) if isinstance(inputs, list) else 1))
        else:
            self._json(
                404,
                {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}},
            )

    def _record(self, body: Any) -> None:
        self.owner.received.append(
            Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )

    def _json(self, status: int, body: Any) -> None:
        content = json.dumps(body).encode()
        self.send_response(status)
        if self.owner.mode == "gzip":  # an upstream that compresses whatever it was asked
            content = gzip.compress(content)
            self.send_header("content-encoding", "gzip")
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(content)))
        self.send_header("x-request-id", "req_upstream_1")
        self.send_header("set-cookie", "__cf_bm=upstream-cookie; Path=/; HttpOnly")
        self.end_headers()
        self.wfile.write(content)

    def _stream(self, events: list[bytes]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        owner = self.owner
        try:
            if owner.mode == "slow_stream":
                # Two events, then one every 50 ms (for up to 10 s) until the reader leaves.
                for event in events[:2]:
                    self.wfile.write(event)
                    self.wfile.flush()
                deadline = time.monotonic() + 10
                filler = next(e for e in events[1:] if b"Hello" in e)  # a text delta
                while time.monotonic() < deadline:
                    time.sleep(0.05)
                    self.wfile.write(filler)
                    self.wfile.flush()
                return
            for event in events:
                self.wfile.write(event)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            owner.cancelled.set()
