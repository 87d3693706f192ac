"""Access control over every route the app has, found at run time (new routes included)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AppFactory, RunBilling
from tests.hardening.routes import CONSOLE_PREFIX, PUBLIC_PATHS, RouteInfo, all_routes
from tests.hardening.support import (
    ALL_KEYS,
    WITH_SCOPE,
    WITHOUT_SCOPE,
    assert_refused,
    bearer,
)
from tests.helpers import CLAUDE_CONFIG

CONTRACT_PATHS = {"/v1/usage", "/v1/quote", "/v1/balances/{user_id}", "/v1/admin/reload"}


def _call(client: TestClient, route: RouteInfo, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    body = {} if route.method in ("POST", "PUT", "PATCH") else None
    return client.request(route.method, route.url(), json=body, headers=headers)


def test_every_route_refuses_missing_wrong_and_unscoped_keys(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG, api_keys=ALL_KEYS)
    routes = all_routes(client.app)  # type: ignore[arg-type]
    assert {r.path for r in routes} >= CONTRACT_PATHS, "route enumeration lost routes"
    guarded = [
        r for r in routes if r.path not in PUBLIC_PATHS and not r.path.startswith(CONSOLE_PREFIX)
    ]
    assert len(guarded) >= 10
    for route in guarded:
        case = f"{route.method} {route.path}"
        assert len(route.scopes) == 1, f"{case}: needs exactly one scope dependency"
        (required,) = route.scopes
        attempts = {
            "missing key": {},
            "wrong key": bearer("not-a-configured-key-0123456789"),
            "empty bearer": {"Authorization": "Bearer "},
            "basic auth": {"Authorization": "Basic YWRtaW46YWRtaW4="},
            "key as raw header": {"Authorization": WITH_SCOPE["admin"]},
            "key prefix": bearer(WITH_SCOPE["admin"][:-1]),
            "key with suffix": bearer(WITH_SCOPE["admin"] + "x"),
        }
        for name, headers in attempts.items():
            assert_refused(
                _call(client, route, headers), 401, "unauthorized", case=f"{case}: {name}"
            )
        # A single scope: a key with every other scope is refused. Alternatives
        # (ingest or read): every configurable key holds one, so only grants are checked.
        alternatives = {required} if isinstance(required, str) else set(required)
        if isinstance(required, str):
            lacking = _call(client, route, bearer(WITHOUT_SCOPE[required]))
            assert_refused(
                lacking, 403, "forbidden", required, case=f"{case}: key without {required}"
            )
        for granted in {*alternatives, "admin"}:
            allowed = _call(client, route, bearer(WITH_SCOPE[granted]))
            assert allowed.status_code not in (401, 403), (case, granted, allowed.text)


def test_probes_metrics_and_docs_need_no_key(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG, api_keys=ALL_KEYS)
    public = {r.path for r in all_routes(client.app) if r.path in PUBLIC_PATHS}  # type: ignore[arg-type]
    assert {"/metrics", "/healthz", "/readyz", "/openapi.json", "/docs"} <= public
    for path in public:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:300])


def test_without_keys_only_loopback_clients_are_served(make_client: AppFactory) -> None:
    app = make_client(CLAUDE_CONFIG).app
    quote = {"endpoint": "anthropic", "model": "claude-sonnet-4-5", "tokens": {"prompt": 10}}
    for host in ("127.0.0.1", "::1", "testclient"):
        with TestClient(app, client=(host, 40000)) as local:
            assert local.post("/v1/quote", json=quote).status_code == 200, host
    for host in ("203.0.113.7", "10.0.0.2", "2001:db8::1"):
        with TestClient(app, client=(host, 40000)) as remote:
            refused = remote.post("/v1/quote", json=quote)
            assert_refused(refused, 401, "unauthorized", "loopback", case=host)
            assert remote.get("/healthz").status_code == 200


def test_keys_file_with_comments_and_scopes(make_client: AppFactory, tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text(
        "# one key per line: KEY:scope,scope (no scopes = admin)\n"
        "file-ingest-key-0123456789:ingest\n"
        "\n"
        "file-reader-key-0123456789: read \n"
        "file-admin-key-01234567890\n",
        encoding="utf-8",
    )
    client = make_client(CLAUDE_CONFIG, api_keys_file=keys_file)
    quote = {"endpoint": "anthropic", "model": "claude-sonnet-4-5", "tokens": {"prompt": 10}}
    assert (
        client.post(
            "/v1/quote", json=quote, headers=bearer("file-ingest-key-0123456789")
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/v1/quote", json=quote, headers=bearer("file-reader-key-0123456789")
        ).status_code
        == 403
    )
    assert (
        client.get("/v1/balances", headers=bearer("file-reader-key-0123456789")).status_code == 200
    )
    assert (
        client.post("/v1/admin/reload", headers=bearer("file-admin-key-01234567890")).status_code
        == 200
    )
    assert client.get("/v1/balances", headers=bearer("# one key per line")).status_code == 401


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "billing.example.com"])
def test_serve_refuses_a_public_address_without_keys(
    host: str, tmp_path: Path, run_billing: RunBilling
) -> None:
    database_url = f"sqlite:///{tmp_path / 'never-created.db'}"
    result = run_billing("serve", "--host", host, "--port", "1", database_url=database_url)
    assert result.returncode == 2, result
    assert f"refusing to listen on {host} without an API key" in result.stderr
    assert "BILLING_API_KEYS" in result.stderr
