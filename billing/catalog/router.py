"""GET /api/endpoints, GET /api/models, GET /api/pricing/coverage."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from billing.api.deps import ReadScope, RuntimeDep, SnapshotDep
from billing.catalog import service
from billing.catalog.fetcher import ModelListFetcher
from billing.catalog.schemas import CoverageOut, EndpointsOut, ModelsOut

router = APIRouter(tags=["catalog"])
_create_lock = threading.Lock()


def get_fetcher(request: Request, runtime: RuntimeDep) -> ModelListFetcher:
    """One fetcher (and model-list cache) per app, created on first use."""
    state = request.app.state
    fetcher: ModelListFetcher | None = getattr(state, "model_lists", None)
    if fetcher is None:
        with _create_lock:
            fetcher = getattr(state, "model_lists", None)
            if fetcher is None:
                fetcher = ModelListFetcher(
                    timeout_seconds=runtime.settings.models_fetch_timeout_seconds,
                    ttl_seconds=runtime.settings.models_cache_ttl_seconds,
                )
                state.model_lists = fetcher
    return fetcher


FetcherDep = Annotated[ModelListFetcher, Depends(get_fetcher)]
UserIdParam = Annotated[
    str | None,
    Query(max_length=200, description="sent as ?user=<id> to endpoints with models.userIdQuery"),
]


@router.get("/api/endpoints", response_model=EndpointsOut, dependencies=[ReadScope])
def list_endpoints(
    snapshot: SnapshotDep, fetcher: FetcherDep, user_id: UserIdParam = None
) -> EndpointsOut:
    """Configured endpoints with their models and how each model is priced."""
    return service.endpoints(snapshot.prices, fetcher, user_id)


@router.get("/api/models", response_model=ModelsOut, dependencies=[ReadScope])
def list_models(
    snapshot: SnapshotDep, fetcher: FetcherDep, user_id: UserIdParam = None
) -> ModelsOut:
    """Models by endpoint with context window and rates."""
    return service.models(snapshot.prices, fetcher, user_id)


@router.get("/api/pricing/coverage", response_model=CoverageOut, dependencies=[ReadScope])
def pricing_coverage(
    snapshot: SnapshotDep, fetcher: FetcherDep, user_id: UserIdParam = None
) -> CoverageOut:
    """Listed or fetched models billed at the fallback rate or through a surprising key."""
    return service.coverage(snapshot.prices, fetcher, user_id)
