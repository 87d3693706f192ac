"""POST /v1/admin/reload."""

from __future__ import annotations

from fastapi import APIRouter

from billing.admin import service
from billing.admin.schemas import ReloadOut
from billing.api.deps import AdminScope, RuntimeDep

router = APIRouter(tags=["admin"])


@router.post(
    "/v1/admin/reload",
    response_model=ReloadOut,
    dependencies=[AdminScope],
    responses={422: {"description": "the file is invalid (problems listed); old config stays"}},
)
def reload_config(runtime: RuntimeDep) -> ReloadOut:
    """Re-read the config file. With several workers this reaches the one that
    answered; restart or SIGHUP `billing serve` to reload them all."""
    snapshot = service.reload_config(runtime)
    config = snapshot.config
    return ReloadOut(
        status="reloaded",
        source=config.source,
        loaded_at=snapshot.loaded_at,
        endpoints=len(config.endpoints),
        warnings=list(config.warnings),
    )
