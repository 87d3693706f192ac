"""benchmarks/floor.py's pieces that decide what it measures (make bench runs it)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from benchmarks import floor, floor_app


def test_replayed_documents_get_new_event_ids_and_nothing_else() -> None:
    document = orjson.dumps(
        [{"event_id": "e-1", "message_id": "e-1x"}, {"event_id": "e-10", "user_id": "u"}]
    ).decode()
    renamed = floor._renamed([document, 7], ["e-1", "e-10"], "3")
    assert orjson.loads(renamed[0]) == [
        {"event_id": "e-1~3", "message_id": "e-1x"},
        {"event_id": "e-10~3", "user_id": "u"},
    ]
    assert renamed[1] == 7
    params = {"ids": ["e-1"]}  # a driver's named parameters: not documents, left as they are
    assert floor._renamed(params, ["e-1"], "3") is params


def test_floor_app_reads_the_whole_body_then_answers() -> None:
    body = [
        {"type": "http.request", "body": b'{"event', "more_body": True},
        {"type": "http.request", "body": b'_id": "x"}', "more_body": False},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return body.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(floor_app.app({"type": "http"}, receive, send))
    assert body == []
    assert sent[0]["status"] == 200
    answer = orjson.loads(sent[1]["body"])
    assert answer["accepted"] == 1 and answer["events"][0]["cost"]["total_credits"] == "6000"
