"""Every console route, found at run time: none answers a visitor without a session."""

from __future__ import annotations

from fastapi.testclient import TestClient
from itsdangerous import URLSafeSerializer

from tests.conftest import AppFactory
from tests.console.support import API_KEYS, CONFIG, READ_KEY, sign_in
from tests.hardening.routes import CONSOLE_PREFIX, all_routes

# Reachable before signing in: the sign-in form itself and the stylesheet it uses.
OPEN = {("GET", "/console/login"), ("GET", "/console/static/{name}")}
# Posting a form needs its CSRF token even before sign-in (login, logout).
CSRF_ONLY = {("POST", "/console/login"), ("POST", "/console/logout")}


def _console_routes(client: TestClient) -> list[tuple[str, str]]:
    routes = all_routes(client.app)  # type: ignore[arg-type]
    found = [(r.method, r.path) for r in routes if r.path.startswith(CONSOLE_PREFIX)]
    assert len(found) >= 9, found
    return found


def test_no_console_route_serves_a_visitor_without_a_session(make_client: AppFactory) -> None:
    client = make_client(CONFIG, api_keys=API_KEYS)
    for method, path in _console_routes(client):
        if (method, path) in OPEN:
            continue
        url = path.replace("{action}", "grant").replace("{name}", "console.css")
        response = client.request(
            method, url, data={"user_id": "alice", "amount": "1"}, follow_redirects=False
        )
        if (method, path) in CSRF_ONLY:
            assert response.status_code == 403, (method, path)
        else:
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/console/login"), (method, path)


def test_a_session_of_another_app_is_not_accepted(make_client: AppFactory) -> None:
    """Cookies are signed with a secret derived from the keys: other keys, other secret."""
    first = make_client(CONFIG, api_keys=API_KEYS)
    sign_in(first, READ_KEY)
    other = make_client(CONFIG, api_keys="another-admin-key-000000:admin")
    other.cookies = first.cookies
    assert other.get("/console", follow_redirects=False).status_code == 303


def test_a_forged_cookie_is_ignored(make_client: AppFactory) -> None:
    """A read session re-signed as admin with a guessed secret is no session."""
    client = make_client(CONFIG, api_keys=API_KEYS)
    sign_in(client, READ_KEY)
    cookie = client.cookies.get("billing_console")
    assert cookie is not None
    guess = URLSafeSerializer("guessed-secret", salt="billing.console.session")
    _, (nonce, key, role, expires) = guess.loads_unsafe(cookie)
    assert role == "read" and READ_KEY not in cookie
    client.cookies.clear()  # only the forged cookie is sent (not beside the real one)
    client.cookies.set(
        "billing_console", guess.dumps([nonce, key, "admin", expires]), path="/console"
    )
    assert client.get("/console", follow_redirects=False).status_code == 303
