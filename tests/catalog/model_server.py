"""A small OpenAI-compatible ``GET /v1/models`` server on 127.0.0.1, run in a thread."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ModelServer:
    models: list[str]
    delay_seconds: float = 0.0
    required_authorization: str | None = None  # 401 unless this exact header
    requests: list[dict[str, str]] = field(default_factory=list)
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def _handler(server: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.requests.append({"path": self.path, **dict(self.headers.items())})
            time.sleep(server.delay_seconds)
            if not self.path.startswith("/v1/models"):
                self._send(404, {"error": "not found"})
            elif (
                server.required_authorization is not None
                and self.headers.get("Authorization") != server.required_authorization
            ):
                self._send(401, {"error": {"message": "invalid api key"}})
            else:
                data = [{"id": name, "object": "model"} for name in server.models]
                self._send(200, {"object": "list", "data": data})

        def _send(self, status: int, body: object) -> None:
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up (timeout test)
                pass

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def model_server(models: list[str], **options: object) -> Iterator[ModelServer]:
    state = ModelServer(models, **options)  # type: ignore[arg-type]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    # shutdown() waits for the loop's next poll: 0.5 s by default, per test.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
