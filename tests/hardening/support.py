"""Shared checks of the hardening tests: the error shape and "nothing was written"."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import create_engine, text

WRITTEN_TABLES = ("usage_event", "ledger_entry", "balance", "reservation")
ADMIN_KEY = "hardening-admin-key-0123456789"
INGEST_KEY = "hardening-ingest-key-0123456789"
READ_KEY = "hardening-read-key-0123456789"
API_KEYS = f"{ADMIN_KEY}:admin;{INGEST_KEY}:ingest;{READ_KEY}:read"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def row_counts(db_url: str) -> dict[str, int]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return {
                table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
                for table in WRITTEN_TABLES
            }
    finally:
        engine.dispose()


def nothing_written(db_url: str) -> bool:
    return all(count == 0 for count in row_counts(db_url).values())


def assert_refused(
    response: httpx.Response,
    status: int | tuple[int, ...],
    code: str,
    mention: str = "",
    *,
    case: str = "",
) -> dict[str, Any]:
    """The docs/api.md error shape: {"error": code, "detail": message naming the field};
    on the gateway's routes the provider's shape {"error": {"code", "message", ...}}."""
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (case, response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), case
    body: dict[str, Any] = response.json()
    if isinstance(body.get("error"), dict):  # the gateway (billing/gateway/errors.py)
        body = {"error": body["error"]["code"], "detail": body["error"]["message"]}
    assert body["error"] == code, (case, body)
    assert isinstance(body["detail"], str) and body["detail"], (case, body)
    assert mention in body["detail"], (case, mention, body["detail"][:500])
    return body


# Keys that hold every scope but one (admin implies all, so "not admin" is ingest+read).
WITHOUT_SCOPE = {
    "admin": "hardening-ingest-read-key-0123",
    "ingest": "hardening-only-read-key-012345",
    "read": "hardening-only-ingest-key-01234",
    "gateway": "hardening-no-gateway-key-01234",
}
GATEWAY_KEY = "hardening-gateway-key-0123456789"
WITH_SCOPE = {"admin": ADMIN_KEY, "ingest": INGEST_KEY, "read": READ_KEY, "gateway": GATEWAY_KEY}
ALL_KEYS = ";".join(
    [
        API_KEYS,
        f"{GATEWAY_KEY}:gateway",
        f"{WITHOUT_SCOPE['admin']}:ingest,read",
        f"{WITHOUT_SCOPE['ingest']}:read",
        f"{WITHOUT_SCOPE['read']}:ingest",
        f"{WITHOUT_SCOPE['gateway']}:ingest,read",
    ]
)
