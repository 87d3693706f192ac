"""Liveness and readiness probes (no key needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from billing import __version__
from billing.api.deps import RuntimeDep
from billing.migrator import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz", responses={503: {"description": "not ready, with the reason"}})
def readyz(runtime: RuntimeDep) -> Any:
    """Ready when the database answers and its schema is at the newest migration."""
    try:
        current = current_revision(runtime.engine)
    except SQLAlchemyError as exc:
        return JSONResponse(
            status_code=503,
            content={
                "error": "unavailable",
                "detail": f"database unreachable: {type(exc).__name__}",
            },
        )
    head = head_revision()
    if current != head:
        return JSONResponse(
            status_code=503,
            content={
                "error": "unavailable",
                "detail": f"database schema is at {current or 'nothing'}, expected {head}: "
                "run `billing migrate`",
            },
        )
    return {"status": "ready", "schema": current, "config": runtime.snapshot.config.source}
