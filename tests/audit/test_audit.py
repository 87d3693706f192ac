"""The audit trail over the real app, CLI and console, on SQLite and PostgreSQL: every
admin action is one entry naming the key by its id (never the key itself); a refused
action leaves none; GET /v1/audit filters and pages; `billing audit` prints them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from billing import actors
from billing.runtime import Runtime
from tests.cli.support import run_cli
from tests.conftest import AppFactory
from tests.console import support as console_support
from tests.helpers import CLAUDE_CONFIG

ADMIN_KEY = "audit-admin-key-0123456789"
OTHER_ADMIN_KEY = "audit-other-admin-key-0123"
READ_KEY = "audit-read-key-0123456789"
API_KEYS = f"{ADMIN_KEY}:admin;{OTHER_ADMIN_KEY}:admin;{READ_KEY}:read"
SETTINGS: dict[str, Any] = {
    "api_keys": API_KEYS,
    "webhook_allow_private_networks": True,  # the webhook URL below is a closed local port
    "webhook_balance_low_credits": "90000",
}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
OTHER = {"Authorization": f"Bearer {OTHER_ADMIN_KEY}"}
READ = {"Authorization": f"Bearer {READ_KEY}"}


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _audit(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = _ok(client.get("/v1/audit", params=params, headers=ADMIN))[
        "entries"
    ]
    return entries


def _raw_rows(db_url: str) -> list[str]:
    """Every audit row as text, straight from the table."""
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = [" ".join(map(str, row)) for row in conn.execute(text("SELECT * FROM audit_entry"))]
    engine.dispose()
    return rows


def test_every_admin_action_is_one_entry_naming_the_key_by_id(
    make_client: AppFactory, db_url: str
) -> None:
    client = make_client(CLAUDE_CONFIG, **SETTINGS)
    user = "/v1/balances/alice"
    _ok(
        client.post(
            f"{user}/credits",
            json={"amount": "12.5", "reason": "ticket 7", "idempotency_key": "g1"},
            headers=ADMIN,
        )
    )
    # The same grant again changes nothing and is not a second action.
    _ok(
        client.post(
            f"{user}/credits",
            json={"amount": "12.5", "reason": "ticket 7", "idempotency_key": "g1"},
            headers=ADMIN,
        )
    )
    hook = _ok(
        client.post(
            "/v1/webhooks",
            json={"url": "http://127.0.0.1:9/hook", "events": ["balance.low"]},
            headers=ADMIN,
        ),
        201,
    )
    # Below webhook_balance_low_credits: a balance.low delivery to redeliver below.
    _ok(client.put(user, json={"credits": "10", "reason": "reset"}, headers=ADMIN))
    _ok(client.put("/v1/users/alice", json={"role": "ADMIN"}, headers=ADMIN))
    budget = {"limit_credits": "500", "period": "month", "tz": "Europe/Berlin"}
    _ok(client.put("/v1/users/alice/budget", json=budget, headers=ADMIN))
    _ok(client.delete("/v1/users/alice/budget", headers=ADMIN))
    deliveries = _ok(client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=ADMIN))
    delivery = deliveries["deliveries"][0]["id"]
    _ok(
        client.post(f"/v1/webhooks/{hook['id']}/deliveries/{delivery}/redeliver", headers=OTHER),
        202,
    )
    _ok(client.delete(f"/v1/webhooks/{hook['id']}", headers=ADMIN), 204)
    reloaded = _ok(client.post("/v1/admin/reload", headers=ADMIN))

    entries = _audit(client)
    admin_id, other_id = actors.key_id(ADMIN_KEY), actors.key_id(OTHER_ADMIN_KEY)
    webhook = f"webhook:{hook['id']}"
    assert [(e["action"], e["target"], e["reason"], e["key_id"]) for e in entries] == [
        ("config.reload", f"config:{reloaded['source']}", None, admin_id),
        ("webhook.delete", webhook, None, admin_id),
        ("webhook.redeliver", webhook, None, other_id),
        ("budget.delete", "user:alice", None, admin_id),
        ("budget.set", "user:alice", None, admin_id),
        ("role.set", "user:alice", None, admin_id),
        ("balance.set", "user:alice", "reset", admin_id),
        ("webhook.create", webhook, None, admin_id),
        ("balance.grant", "user:alice", "ticket 7", admin_id),
    ]
    details = {e["action"]: e["details"] for e in reversed(entries)}
    assert details["balance.grant"] == {"credits": "12.5", "idempotency_key": "g1"}
    assert details["balance.set"] == {"credits": "10", "change": "-100002.5"}
    assert details["role.set"] == {"role": "ADMIN"}
    assert details["budget.set"] == {
        "limit_credits": "500",
        "period": "month",
        "tz": "Europe/Berlin",
    }
    assert details["budget.delete"] == {"limit_credits": "500", "period": "month"}
    assert details["webhook.create"] == {
        "url": "http://127.0.0.1:9/hook",
        "events": ["balance.low"],
    }
    assert details["webhook.redeliver"] == {"delivery_id": str(delivery)}
    assert details["config.reload"]["version"] == reloaded["version"]
    assert all(re.fullmatch(r"[0-9a-f]{16}", e["key_id"]) for e in entries)
    created = [datetime.fromisoformat(e["created_at"]) for e in entries]
    assert all(moment.tzinfo is not None for moment in created)
    assert created == sorted(created, reverse=True)
    # Neither a key nor the webhook's signing secret is ever stored.
    stored = " ".join(_raw_rows(db_url))
    for secret in (ADMIN_KEY, OTHER_ADMIN_KEY, hook["secret"]):
        assert secret not in stored


def test_a_refused_or_failed_action_records_nothing(
    make_client: AppFactory, db_url: str, write_config: Callable[[str], Path]
) -> None:
    path = write_config(CLAUDE_CONFIG)
    client = make_client(config=path, **SETTINGS)
    user = "/v1/balances/alice"
    _ok(client.post(f"{user}/credits", json={"amount": "1", "idempotency_key": "k"}, headers=ADMIN))
    refused = [
        # another grant under the same key
        client.post(f"{user}/credits", json={"amount": "2", "idempotency_key": "k"}, headers=ADMIN),
        client.put(user, json={"credits": "1" + "0" * 15}, headers=ADMIN),  # out of range
        client.post(f"{user}/credits", json={"amount": "1"}, headers=READ),  # read key
        client.post(f"{user}/credits", json={"amount": "1"}),  # no key
        client.delete("/v1/users/alice/budget", headers=ADMIN),  # no budget of her own
        client.put(
            "/v1/users/alice/budget", json={"limit_credits": "-1", "period": "month"}, headers=ADMIN
        ),
        client.post(
            "/v1/webhooks", json={"url": "ftp://x/y", "events": ["balance.low"]}, headers=ADMIN
        ),
        client.delete("/v1/webhooks/wh_nosuchhook", headers=ADMIN),
        client.post("/v1/webhooks/wh_nosuchhook/deliveries/1/redeliver", headers=ADMIN),
    ]
    path.write_text(CLAUDE_CONFIG.replace("prompt: 3", "prompt: -3"), encoding="utf-8")
    refused.append(client.post("/v1/admin/reload", headers=ADMIN))  # a broken file
    assert [r.status_code for r in refused] == [409, 422, 403, 401, 404, 422, 422, 404, 404, 422]
    assert [e["action"] for e in _audit(client)] == ["balance.grant"]
    assert len(_raw_rows(db_url)) == 1


def _runtime(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def test_filters_and_cursor_paging(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG, **SETTINGS)
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for minute, (who, headers) in enumerate(
        [("alice", ADMIN), ("bob", OTHER), ("alice", OTHER), ("carol", ADMIN), ("bob", ADMIN)]
    ):
        _runtime(client).clock = lambda minute=minute: start + timedelta(minutes=minute)
        _ok(client.post(f"/v1/balances/{who}/credits", json={"amount": "1"}, headers=headers))
    _ok(client.put("/v1/users/alice", json={"role": "USER"}, headers=ADMIN))  # at minute 4

    assert len(_audit(client)) == 6
    assert [e["target"] for e in _audit(client, target="user:bob")] == ["user:bob"] * 2
    assert len(_audit(client, action="balance.grant")) == 5
    assert [e["action"] for e in _audit(client, action="role.set")] == ["role.set"]
    by_other = _audit(client, key_id=actors.key_id(OTHER_ADMIN_KEY))
    assert [e["target"] for e in by_other] == ["user:alice", "user:bob"]
    window = _audit(client, since="2026-03-01T12:01:00Z", until="2026-03-01T12:03:00+00:00")
    assert [e["target"] for e in window] == ["user:alice", "user:bob"]
    assert _audit(client, action="balance.grant", target="user:carol", key_id="loopback") == []

    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = _ok(client.get("/v1/audit", params=params, headers=ADMIN))
        seen += [entry["id"] for entry in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [entry["id"] for entry in _audit(client)] and len(set(seen)) == 6

    naive = client.get("/v1/audit", params={"since": "2026-03-01T12:00:00"}, headers=ADMIN)
    assert naive.status_code == 422 and "since" in naive.json()["detail"]
    bad_cursor = client.get("/v1/audit", params={"cursor": "x"}, headers=ADMIN)
    assert bad_cursor.status_code == 422 and bad_cursor.json()["error"] == "invalid_request"
    # Operator activity is for admin keys only.
    assert client.get("/v1/audit", headers=READ).status_code == 403
    assert client.get("/v1/audit").status_code == 401


def test_without_keys_the_actor_is_loopback(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    _ok(client.post("/v1/balances/alice/credits", json={"amount": "3"}))
    entries = _ok(client.get("/v1/audit"))["entries"]
    assert [(e["action"], e["key_id"]) for e in entries] == [("balance.grant", "loopback")]


def test_console_actions_name_the_signed_in_key(make_client: AppFactory) -> None:
    client = make_client(config_yaml=console_support.CONFIG, api_keys=console_support.API_KEYS)
    _ok(
        client.post(
            "/v1/balances/alice/credits",
            json={"amount": "1"},
            headers={"Authorization": f"Bearer {console_support.ADMIN_KEY}"},
        )
    )
    console_support.sign_in(client, console_support.ADMIN_KEY)
    page = client.get("/console/user", params={"id": "alice"}).text
    for action, field in (("grant", "amount"), ("set-balance", "credits")):
        form = {"csrf_token": console_support.csrf(page), "user_id": "alice", field: "42"}
        review = client.post(f"/console/user/{action}", data={**form, "step": "review"})
        fields = dict(
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', review.text)
        )
        assert client.post(f"/console/user/{action}", data=fields).status_code == 200
    entries = _ok(
        client.get("/v1/audit", headers={"Authorization": f"Bearer {console_support.ADMIN_KEY}"})
    )["entries"]
    console_key = actors.key_id(console_support.ADMIN_KEY)
    assert [(e["action"], e["key_id"]) for e in entries] == [
        ("balance.set", console_key),
        ("balance.grant", console_key),
        ("balance.grant", console_key),  # the API's grant: the same key, the same id
    ]


def test_cli_actions_and_the_audit_command(db_url: str) -> None:
    assert run_cli(db_url, "balance", "add", "u1", "10", "--reason", "promo").exit_code == 0
    assert run_cli(db_url, "balance", "set", "u1", "2.5").exit_code == 0
    assert run_cli(db_url, "balance", "add", "u1", "0").exit_code == 2  # refused: no entry

    listed = run_cli(db_url, "audit", "--format", "json")
    assert listed.exit_code == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["action"], r["target"], r["reason"], r["key_id"]) for r in rows] == [
        ("balance.set", "user:u1", None, "cli"),
        ("balance.grant", "user:u1", "promo", "cli"),
    ]
    assert rows[0]["details"] == {"credits": "2.5", "change": "-7.5"}

    table = run_cli(db_url, "audit", "--action", "balance.grant")
    assert table.exit_code == 0
    assert "balance.grant" in table.stdout and "balance.set" not in table.stdout
    assert "promo" in table.stdout and '"credits":"10"' in table.stdout
    one = json.loads(run_cli(db_url, "audit", "--limit", "1", "--format", "json").stdout)
    assert [r["action"] for r in one] == ["balance.set"]
    later = run_cli(db_url, "audit", "--since", "2999-01-01", "--format", "json")
    assert json.loads(later.stdout) == []
    assert run_cli(db_url, "audit", "--since", "yesterday").exit_code == 2


def test_reprice_runs_and_voids_are_audited(make_client: AppFactory) -> None:
    """An applied reprice run and a void are one entry each; a dry run is none."""
    from tests.helpers import event
    from tests.reprice.helpers import CHEAPER_CONFIG, EVER

    old = make_client(CLAUDE_CONFIG, **SETTINGS)
    _ok(old.post("/v1/usage", json=event("e1"), headers=ADMIN))
    _ok(old.post("/v1/usage", json=event("e2"), headers=ADMIN))
    client = make_client(CHEAPER_CONFIG, **SETTINGS)
    body = {**EVER, "reason": "prompt rate typo"}
    _ok(client.post("/v1/admin/reprice", json={**body, "dry_run": True}, headers=ADMIN))
    assert _audit(client, action="reprice.run") == []
    run = _ok(client.post("/v1/admin/reprice", json={**body, "dry_run": False}, headers=OTHER))
    (entry,) = _audit(client, action="reprice.run")
    assert entry["target"] == f"reprice:{run['run_id']}" and entry["reason"] == "prompt rate typo"
    assert entry["key_id"] == actors.key_id(OTHER_ADMIN_KEY)
    void = {"reason": "test traffic"}
    _ok(client.post("/v1/usage/e1/void", json=void, headers=ADMIN))
    _ok(client.post("/v1/usage/e1/void", json=void, headers=ADMIN))  # idempotent: no new entry
    (voided,) = _audit(client, action="usage.void")
    assert voided["target"] == "event:e1" and voided["key_id"] == actors.key_id(ADMIN_KEY)
