"""An answer's head and body leave in one write (billing/connections.py, _OneWrite)."""

from __future__ import annotations

import asyncio
from typing import Any

from billing.connections import _OneWrite


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def writelines(self, chunks: Any) -> None:
        self.writes.append(b"".join(chunks))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_head_and_body_go_out_together_and_a_lone_head_next_turn() -> None:
    async def run() -> list[list[bytes]]:
        loop = asyncio.get_running_loop()
        seen = []
        answer = Recorder()
        one = _OneWrite(answer, loop)  # type: ignore[arg-type]
        one.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # interim: at once
        one.write(b"HTTP/1.1 200 OK\r\n\r\n")
        one.write(b"body")
        one.write(b"more")
        await asyncio.sleep(0)
        seen.append(answer.writes)
        streamed = Recorder()
        one = _OneWrite(streamed, loop)  # type: ignore[arg-type]
        one.write(b"HTTP/1.1 200 OK\r\n\r\n")
        assert streamed.writes == []
        await asyncio.sleep(0)  # the loop's next turn: the head goes alone
        one.write(b"chunk")
        seen.append(streamed.writes)
        closing = Recorder()
        one = _OneWrite(closing, loop)  # type: ignore[arg-type]
        one.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        one.close()
        assert one.is_closing()
        seen.append(closing.writes)
        return seen

    answer, streamed, closing = asyncio.run(run())
    assert answer == [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\nbody", b"more"]
    assert streamed == [b"HTTP/1.1 200 OK\r\n\r\n", b"chunk"]
    assert closing == [b"HTTP/1.1 204 No Content\r\n\r\n"]
