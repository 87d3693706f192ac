"""POST /v1/admin/reload."""

from __future__ import annotations

from fastapi import APIRouter

from billing.admin import service
from billing.admin.schemas import ReloadOut
from billing.api.deps import AdminScope, RuntimeDep
from billing.api.errors import ERROR_SCHEMA

router = APIRouter(tags=["admin"])


@router.post(
    "/v1/admin/reload",
    response_model=ReloadOut,
    dependencies=[AdminScope],
    responses={
        422: {
            "description": "invalid_request: the file is invalid, the old config stays; the"
            " body adds problems (every problem found)",
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
    },
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
