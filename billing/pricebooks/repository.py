"""Queries of the price_book table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from billing.models import PriceBookVersion

Row = tuple[int, str, str, datetime]  # id, content_hash, rates_json, created_at

_COLUMNS = (
    PriceBookVersion.id,
    PriceBookVersion.content_hash,
    PriceBookVersion.rates_json,
    PriceBookVersion.created_at,
)


def latest_hash(session: Session) -> str | None:
    stmt = select(PriceBookVersion.content_hash).order_by(PriceBookVersion.id.desc()).limit(1)
    return session.execute(stmt).scalar_one_or_none()


def insert_version(session: Session, content_hash: str, rates_json: str, now: datetime) -> None:
    session.execute(
        insert(PriceBookVersion).values(
            content_hash=content_hash, rates_json=rates_json, created_at=now
        )
    )


def versions(session: Session) -> list[Row]:
    """Every version, newest first (without rates: the list stays small)."""
    stmt = select(*_COLUMNS).order_by(PriceBookVersion.id.desc())
    return [(row[0], row[1], "", row[3]) for row in session.execute(stmt)]


def version_by_id(session: Session, version_id: int) -> Row | None:
    row = session.execute(select(*_COLUMNS).where(PriceBookVersion.id == version_id)).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


def version_by_hash(session: Session, content_hash: str) -> Row | None:
    """The newest version with these rates."""
    stmt = (
        select(*_COLUMNS)
        .where(PriceBookVersion.content_hash == content_hash)
        .order_by(PriceBookVersion.id.desc())
        .limit(1)
    )
    row = session.execute(stmt).first()
    return None if row is None else (row[0], row[1], row[2], row[3])
