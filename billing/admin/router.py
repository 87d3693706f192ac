"""POST /v1/admin/reload."""

from __future__ import annotations

from fastapi import APIRouter, Request

from billing.admin import service
from billing.admin.schemas import ReloadOut
from billing.api.config_version import pin_snapshot
from billing.api.deps import AdminActor, RuntimeDep
from billing.api.errors import documented_errors

router = APIRouter(tags=["admin"])


@router.post(
    "/v1/admin/reload",
    response_model=ReloadOut,
    responses=documented_errors(
        {
            422: "invalid_request: the file is invalid, the old config stays; the"
            " body adds problems (every problem found)"
        }
    ),
)
def reload_config(request: Request, runtime: RuntimeDep, actor: AdminActor) -> ReloadOut:
    """Re-read the config file. With several workers this reaches the one that
    answered; SIGHUP `billing serve` to reload them all (the
    X-Billing-Config-Version header of each answer names the config that served it)."""
    snapshot = service.reload_config(runtime, actor=actor)
    pin_snapshot(request.scope, snapshot)  # this answer names the config now in use
    config = snapshot.config
    return ReloadOut(
        status="reloaded",
        source=config.source,
        version=snapshot.version,
        loaded_at=snapshot.loaded_at,
        endpoints=len(config.endpoints),
        warnings=list(config.warnings),
    )
