"""The check's route solves its parameters directly (billing/api/direct_route.py):
the same answers as FastAPI's solving, and routes it cannot serve refused at import."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import APIRouter, Query, Request, Response

from billing.api.deps import IngestContext
from billing.api.direct_route import DirectRoute
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG
from tests.reservations.support import estimate

KEYS = '{"ingest-key-0123456789": ["ingest"], "read-key-0123456789ab": ["read"]}'
INGEST = {"Authorization": "Bearer ingest-key-0123456789"}


def test_path_is_validated_after_the_key(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG, api_keys=KEYS)
    long_id = "/v1/balances/" + "x" * 201 + "/check"
    # An unknown or missing key is refused before the path is looked at (as FastAPI does).
    assert client.post(long_id, json=estimate()).status_code == 401
    read_only = {"Authorization": "Bearer read-key-0123456789ab"}
    denied = client.post(long_id, json=estimate(), headers=read_only)
    assert denied.status_code == 403
    assert denied.json()["detail"] == "this API key lacks the 'ingest' scope"
    refused = client.post(long_id, json=estimate(), headers=INGEST)
    assert refused.status_code == 422
    assert refused.json()["fields"] == [
        {"loc": "user_id", "message": "String should have at most 200 characters"}
    ]
    answered = client.post("/v1/balances/u1/check", json=estimate(), headers=INGEST)
    assert answered.status_code == 200 and answered.json()["user_id"] == "u1"


def test_routes_it_cannot_solve_are_refused_when_declared() -> None:
    router = APIRouter(route_class=DirectRoute)

    with pytest.raises(TypeError, match="query parameters"):

        @router.get("/direct/{item}")
        async def with_query(item: str, limit: Annotated[int, Query()] = 1) -> Response:
            return Response()

    with pytest.raises(TypeError, match="a sync endpoint"):

        @router.get("/sync")
        def sync(request: Request) -> Response:
            return Response()

    @router.post("/direct/{user_id}")
    async def supported(user_id: str, request: Request, context: IngestContext) -> Response:
        return Response()

    assert [getattr(route, "path", None) for route in router.routes] == ["/direct/{user_id}"]
