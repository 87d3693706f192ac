"""Record the price book a config load brings in; list and show the versions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from billing.errors import NotFound
from billing.pricebooks import repository as repo
from billing.pricing.engine import PriceBook


@dataclass(frozen=True, slots=True)
class PriceBookInfo:
    id: int
    content_hash: str
    created_at: datetime
    current: bool  # the rates the answering process prices with
    rates: dict[str, Any] | None  # only when one version is asked for


def record_current(session: Session, prices: PriceBook, now: datetime) -> bool:
    """Record ``prices`` as a new version when its rates differ from the last one
    recorded; whether it did. Two processes loading the same new rates at once
    may both record it: versions are told apart by id, events name the hash."""
    if repo.latest_hash(session) == prices.version:
        return False
    repo.insert_version(session, prices.version, prices.rates_json, now)
    return True


def list_versions(session: Session, prices: PriceBook) -> list[PriceBookInfo]:
    return [
        PriceBookInfo(id_, hash_, created, hash_ == prices.version, None)
        for id_, hash_, _, created in repo.versions(session)
    ]


def get_version(session: Session, prices: PriceBook, version: str) -> PriceBookInfo:
    """By id (digits) or content hash."""
    row = repo.version_by_id(session, int(version)) if _is_id(version) else None
    if row is None:
        row = repo.version_by_hash(session, version)
    if row is None:
        raise NotFound(f"no price book version {version!r}: GET /v1/pricebooks lists them")
    id_, hash_, rates_json, created = row
    return PriceBookInfo(id_, hash_, created, hash_ == prices.version, json.loads(rates_json))


_MAX_ID = 2**63 - 1


def _is_id(text: str) -> bool:
    return text.isascii() and text.isdigit() and int(text) <= _MAX_ID
