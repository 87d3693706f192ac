"""GET /v1/pricebooks and GET /v1/pricebooks/{id}."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path

from billing.api.deps import ReadScope, SessionDep, SnapshotDep
from billing.api.errors import documented_errors
from billing.api.schemas import ID_PATTERN
from billing.pricebooks import service
from billing.pricebooks.schemas import PriceBookOut, PriceBooksOut

router = APIRouter(tags=["pricebooks"])


@router.get("/v1/pricebooks", response_model=PriceBooksOut, dependencies=[ReadScope])
def list_pricebooks(session: SessionDep, snapshot: SnapshotDep) -> PriceBooksOut:
    """Every price book version, newest first. The rates in use are recorded here
    first if no version has them yet (a config load records them too)."""
    service.record_current(session, snapshot.prices, snapshot.loaded_at)
    versions = service.list_versions(session, snapshot.prices)
    return PriceBooksOut(versions=[PriceBookOut(**asdict(info)) for info in versions])


@router.get(
    "/v1/pricebooks/{version_id}",
    response_model=PriceBookOut,
    dependencies=[ReadScope],
    responses=documented_errors({404: "not_found: no such version"}),
)
def get_pricebook(
    session: SessionDep,
    snapshot: SnapshotDep,
    version_id: Annotated[
        str,
        Path(
            min_length=1,
            max_length=64,
            pattern=ID_PATTERN,
            description="the version's id, or its content_hash (the newest version with it)",
            examples=["1"],
        ),
    ],
) -> PriceBookOut:
    """One price book version with its effective rates (by id or content hash: usage
    events name theirs by hash)."""
    return PriceBookOut(**asdict(service.get_version(session, snapshot.prices, version_id)))
