"""Webhook rules: create (checked URL, fresh secret), list, delete, deliveries, redeliver."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session

from billing.audit import service as audit
from billing.audit.types import (
    WEBHOOK_CREATE,
    WEBHOOK_DELETE,
    WEBHOOK_REDELIVER,
    webhook_target,
)
from billing.errors import BillingError, InvalidRequest
from billing.models import WebhookEndpoint
from billing.models.webhook_delivery import PENDING
from billing.session_events import after_commit
from billing.webhooks import repository as repo
from billing.webhooks import wakeup
from billing.webhooks.events import EVENT_TYPES
from billing.webhooks.types import DeliveryView, Webhook
from billing.webhooks.urls import RefusedUrl, check_destination


class WebhookNotFound(BillingError):
    code = "webhook_not_found"
    status_code = 404


class DeliveryNotFound(BillingError):
    code = "delivery_not_found"
    status_code = 404


def new_secret() -> str:
    """whsec_ and 32 random bytes in base64: the Standard Webhooks secret format."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def create(
    session: Session,
    url: str,
    events: list[str],
    *,
    allow_private: bool,
    now: datetime,
    actor: str,
) -> Webhook:
    try:
        check_destination(url, allow_private=allow_private, resolve_failure_ok=True)
    except RefusedUrl as exc:
        raise InvalidRequest(f"url: {exc}", field="url") from None
    wanted = sorted(set(events), key=EVENT_TYPES.index)
    endpoint_id = "wh_" + secrets.token_hex(12)
    row = {
        "id": endpoint_id,
        "url": url,
        "events": orjson.dumps(wanted).decode(),
        "secret": new_secret(),
        "created_at": now,
    }
    repo.add_endpoint(session, row)
    # The secret stays out of the audit trail: it signs deliveries.
    details = {"url": url, "events": wanted}
    _record(session, WEBHOOK_CREATE, endpoint_id, actor, details, now)
    return _webhook(WebhookEndpoint(**row))


def _record(
    session: Session,
    action: str,
    endpoint_id: str,
    actor: str,
    details: dict[str, Any],
    now: datetime,
) -> None:
    target = webhook_target(endpoint_id)
    audit.record(
        session, action=action, target=target, reason=None, key_id=actor, details=details, now=now
    )


def _webhook(endpoint: WebhookEndpoint) -> Webhook:
    events: list[str] = orjson.loads(endpoint.events)
    return Webhook(endpoint.id, endpoint.url, events, endpoint.created_at, endpoint.secret)


def list_all(session: Session) -> list[Webhook]:
    return [_webhook(endpoint) for endpoint in repo.list_endpoints(session)]


def delete(session: Session, endpoint_id: str, *, actor: str, now: datetime) -> None:
    endpoint = repo.get_endpoint(session, endpoint_id)
    if endpoint is None or not repo.delete_endpoint(session, endpoint_id):
        raise _not_found(endpoint_id)
    _record(session, WEBHOOK_DELETE, endpoint_id, actor, {"url": endpoint.url}, now)


def deliveries(
    session: Session, endpoint_id: str, *, status: str | None, before: int | None, limit: int
) -> list[DeliveryView]:
    if repo.get_endpoint(session, endpoint_id) is None:
        raise _not_found(endpoint_id)
    return repo.list_deliveries(session, endpoint_id, status=status, before=before, limit=limit)


def redeliver(
    session: Session,
    endpoint_id: str,
    delivery_id: str,
    *,
    give_up_after: timedelta,
    now: datetime,
    actor: str,
) -> DeliveryView:
    """Try the delivery again now (the same webhook-id), with a fresh retry window;
    a pending delivery is simply moved up."""
    if repo.get_endpoint(session, endpoint_id) is None:
        raise _not_found(endpoint_id)
    number = int(delivery_id) if delivery_id.isascii() and delivery_id.isdigit() else 0
    if not 0 < number < 2**63 or repo.get_delivery(session, endpoint_id, number) is None:
        raise DeliveryNotFound(
            f"no delivery {delivery_id!r} for webhook {endpoint_id!r}: its deliveries list them",
            field="delivery_id",
        )
    repo.schedule_now(session, number, now, now + give_up_after)
    _record(session, WEBHOOK_REDELIVER, endpoint_id, actor, {"delivery_id": str(number)}, now)
    after_commit(session, wakeup.notify)
    view = repo.get_delivery(session, endpoint_id, number)
    assert view is not None and view.status == PENDING
    return view


def _not_found(endpoint_id: str) -> WebhookNotFound:
    return WebhookNotFound(
        f"no webhook {endpoint_id!r}: GET /v1/webhooks lists them", field="webhook_id"
    )
