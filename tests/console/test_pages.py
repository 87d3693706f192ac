"""Every console page over the real app and database (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from billing.balances import service as balances
from billing.console import queries
from billing.runtime import Runtime
from tests.conftest import AppFactory
from tests.console.support import (
    ADMIN_KEY,
    API_KEYS,
    CONFIG,
    INGEST_KEY,
    READ_KEY,
    csrf,
    load_usage,
    sign_in,
)


@pytest.fixture
def console(make_client: AppFactory) -> TestClient:
    client = make_client(config_yaml=CONFIG, api_keys=API_KEYS, console_ranking_seconds=0)
    load_usage(client)
    return client


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def balance_micro(client: TestClient, user_id: str) -> int:
    with runtime_of(client).read_sessions() as session:
        return balances.get_balance(session, user_id, runtime_of(client).clock()).amount_micro


def test_pages_need_a_session(console: TestClient) -> None:
    for path in ("/console", "/console/users", "/console/user?id=alice", "/console/pricing"):
        response = console.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/console/login?next=")


def test_sign_in_sets_a_signed_http_only_strict_cookie(console: TestClient) -> None:
    form = console.get("/console/login")
    response = console.post(
        "/console/login",
        data={"api_key": READ_KEY, "csrf_token": csrf(form.text), "next": "/console/users"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/users"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP here; set behind HTTPS
    assert READ_KEY not in cookie
    assert console.get("/console/users").status_code == 200


@pytest.mark.parametrize(
    ("key", "status", "message"),
    [
        ("not-a-key-at-all-000", 401, "not valid"),
        (INGEST_KEY, 403, "neither the read nor the admin scope"),
    ],
)
def test_sign_in_refusals(console: TestClient, key: str, status: int, message: str) -> None:
    form = console.get("/console/login")
    response = console.post("/console/login", data={"api_key": key, "csrf_token": csrf(form.text)})
    assert response.status_code == status
    assert message in response.text
    assert console.get("/console", follow_redirects=False).status_code == 303


def test_sign_in_without_csrf_token_is_refused(console: TestClient) -> None:
    console.get("/console/login")
    response = console.post("/console/login", data={"api_key": ADMIN_KEY})
    assert response.status_code == 403
    assert "security token" in response.text
    assert console.get("/console", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session(console: TestClient) -> None:
    page = sign_in(console, READ_KEY)
    response = console.post("/console/logout", data={"csrf_token": csrf(page)})
    assert response.status_code == 200
    assert "You are signed out" in response.text
    assert console.get("/console", follow_redirects=False).status_code == 303


def test_session_expires(console: TestClient) -> None:
    sign_in(console, READ_KEY)
    runtime = runtime_of(console)
    started = runtime.clock()
    runtime.clock = lambda: started + timedelta(minutes=runtime.settings.console_session_minutes)
    response = console.get("/console/users")
    assert str(response.url).startswith("http://testserver/console/login")
    assert "Your session ended" in response.text


def test_overview(console: TestClient) -> None:
    page = sign_in(console, READ_KEY)
    assert "<h1>Overview</h1>" in page
    assert '<svg viewBox="0 0 600' in page and "Daily spend, last 30 days" in page
    # Spend today / 7 / 30 days, in credits and in the display currency.
    assert re.search(r"<dt>Today</dt><dd><span class=\"credits\">[\d,.]+&nbsp;credits", page)
    assert "EUR</span>" in page
    # By endpoint and model, top users, and the model billed at the fallback rate.
    assert "claude-sonnet-4-5" in page and "zzqx-house-model" in page
    top = page[page.index("Top users") :]
    assert top.index("alice") < top.index("bob")
    assert "carol" not in top[: top.index("Billed at the fallback rate")]
    fallback = page[page.index('id="fallback-heading"') :]
    assert "endpoints.custom[name: Mystery].tokenConfig" in fallback
    assert '"zzqx-house-model":' in fallback


def test_users_search_sort_and_paging(console: TestClient) -> None:
    sign_in(console, READ_KEY)
    listing = console.get("/console/users").text
    assert listing.index(">alice<") < listing.index(">bob<") < listing.index(">carol<")
    by_spend = console.get("/console/users", params={"sort": "spend"}).text
    assert by_spend.index(">alice<") < by_spend.index(">bob<") < by_spend.index(">carol<")
    by_balance = console.get("/console/users", params={"sort": "balance"}).text
    balances_shown = {u: balance_micro(console, u) for u in ("alice", "bob", "carol")}
    expected = sorted(balances_shown, key=lambda u: (-balances_shown[u], u))
    positions = [by_balance.index(f">{u}<") for u in expected]
    assert positions == sorted(positions)
    found = console.get("/console/users", params={"q": "b"}).text
    assert ">bob<" in found and ">alice<" not in found
    assert "No user matches" in console.get("/console/users", params={"q": "%"}).text


@pytest.mark.parametrize("sort", queries.SORTS)
def test_cursor_paging_visits_every_user_once(console: TestClient, sort: str) -> None:
    runtime = runtime_of(console)
    with runtime.read_sessions() as session:
        ranking = queries.compute_ranking(session, runtime.clock())
        seen: list[str] = []
        cursor = None
        while True:
            page = queries.list_users(
                session, ranking, prefix="", sort=sort, cursor=cursor, limit=2
            )
            seen += [row.user_id for row in page.rows]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert sorted(seen) == ["alice", "bob", "carol"]
    assert len(seen) == 3


def test_user_page(console: TestClient) -> None:
    sign_in(console, READ_KEY)
    page = console.get("/console/user", params={"id": "alice"}).text
    assert '<h1>User <span class="id">alice</span></h1>' in page
    assert "Reserved by open holds" in page and "Auto-refill" in page
    assert 'id="budget-role"' in page
    assert "conv-a" in page and "conv-b" in page and "conv-c" not in page
    assert "start_balance" in page and "usage" in page
    # A read key sees no action forms.
    assert "Grant credits" not in page
    missing = console.get("/console/user", params={"id": "nobody"})
    assert missing.status_code == 404


def test_user_page_shows_role_and_budget(console: TestClient) -> None:
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    sign_in(console, READ_KEY)
    assert "No role and no budget." in console.get("/console/user", params={"id": "alice"}).text
    assert console.put("/v1/users/alice", json={"role": "ADMIN"}, headers=headers).is_success
    budget = {"limit_credits": "50000", "period": "month", "tz": "Europe/Berlin"}
    assert console.put("/v1/users/alice/budget", json=budget, headers=headers).is_success
    page = console.get("/console/user", params={"id": "alice"}).text
    slot = page[
        page.index('id="budget-role"') : page.index("</div>", page.index('id="budget-role"'))
    ]
    assert "<dd>ADMIN</dd>" in slot
    assert "50,000 credits per month (Europe/Berlin)" in slot and "Budget (user)" in slot


def test_ledger_paging(console: TestClient) -> None:
    sign_in(console, ADMIN_KEY)
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    for n in range(60):
        grant = {"amount": "1", "idempotency_key": f"many-{n}"}
        assert console.post("/v1/balances/dave/credits", json=grant, headers=headers).is_success
    first = console.get("/console/user", params={"id": "dave"}).text
    older = re.search(r'href="(/console/user\?id=dave&amp;ledger=\d+)" rel="next"', first)
    assert older is not None
    second = console.get(older.group(1).replace("&amp;", "&")).text
    ids = [re.findall(r"<tr>\s*<td>(\d+)</td>", text) for text in (first, second)]
    assert len(ids[0]) == 50 and len(ids[1]) == 11  # 60 grants and the start balance
    assert not set(ids[0]) & set(ids[1])


def test_conversation_page(console: TestClient) -> None:
    sign_in(console, READ_KEY)
    page = console.get("/console/conversation", params={"id": "conv-a"}).text
    first, second = page.index("console-msg-1"), page.index("console-msg-2")
    assert first < second
    assert "priced by token_config" in page and "<code>claude-sonnet-4-5</code>" in page
    assert '<td class="num">3</td>' in page  # the prompt rate, credits per token
    assert '<td class="num">0.3</td>' in page  # the cache read rate
    other = console.get("/console/conversation", params={"id": "conv-b"}).text
    assert "priced by fallback" in other
    assert console.get("/console/conversation", params={"id": "nope"}).status_code == 404


def test_pricing_page(console: TestClient) -> None:
    sign_in(console, READ_KEY)
    page = console.get("/console/pricing").text
    assert "Claude-Compatible" in page and "Mystery" in page
    assert "zzqx-house-model" in page and "endpoints.custom[name: Mystery].tokenConfig" in page
    assert "premium" in page.lower()  # built-in models with premium tiers are listed


def _review(console: TestClient, page: str, action: str, **fields: str) -> str:
    response = console.post(
        f"/console/user/{action}",
        data={"csrf_token": csrf(page), "user_id": "alice", "step": "review", **fields},
    )
    assert response.status_code == 200, response.text
    return response.text


def _confirm(console: TestClient, review: str) -> TestClient:
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', review))
    response = console.post(f"/console/user/{review_action(review)}", data=fields)
    assert response.status_code == 200, response.text
    return console


def review_action(review: str) -> str:
    found = re.search(r'action="/console/user/([a-z-]+)"', review)
    assert found is not None
    return found.group(1)


def test_grant_with_confirmation_lands_in_the_ledger(console: TestClient) -> None:
    page = sign_in(console, ADMIN_KEY)
    user_page = console.get("/console/user", params={"id": "alice"}).text
    before = balance_micro(console, "alice")
    review = _review(console, user_page, "grant", amount="1,500.25", reason="support ticket 7")
    assert "Confirm: grant credits" in review
    assert balance_micro(console, "alice") == before  # nothing happens before confirming
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', review))
    done = console.post("/console/user/grant", data=fields)
    assert "Credits granted" in done.text
    assert balance_micro(console, "alice") == before + 1_500_250_000
    assert "support ticket 7" in done.text
    # Submitting the same confirmation again grants once.
    console.post("/console/user/grant", data=fields)
    assert balance_micro(console, "alice") == before + 1_500_250_000
    with runtime_of(console).read_sessions() as session:
        assert balances.reconcile(session) == []
    assert page


def test_set_balance(console: TestClient) -> None:
    sign_in(console, ADMIN_KEY)
    user_page = console.get("/console/user", params={"id": "alice"}).text
    review = _review(console, user_page, "set-balance", credits="42", reason="reset")
    _confirm(console, review)
    assert balance_micro(console, "alice") == 42_000_000
    with runtime_of(console).read_sessions() as session:
        assert balances.reconcile(session) == []


def test_bad_amount_is_explained(console: TestClient) -> None:
    sign_in(console, ADMIN_KEY)
    user_page = console.get("/console/user", params={"id": "alice"}).text
    response = console.post(
        "/console/user/grant",
        data={"csrf_token": csrf(user_page), "user_id": "alice", "amount": "lots"},
    )
    assert response.status_code == 422
    assert "enter a number of credits" in response.text


def test_read_key_cannot_act(console: TestClient) -> None:
    page = sign_in(console, READ_KEY)
    before = balance_micro(console, "alice")
    response = console.post(
        "/console/user/grant",
        data={"csrf_token": csrf(page), "user_id": "alice", "amount": "10", "step": "confirm"},
    )
    assert response.status_code == 403
    assert "read scope" in response.text
    assert balance_micro(console, "alice") == before


def test_action_without_csrf_token_is_refused(console: TestClient) -> None:
    sign_in(console, ADMIN_KEY)
    before = balance_micro(console, "alice")
    for token in (None, "0" * 64):
        data = {"user_id": "alice", "amount": "10", "step": "confirm"}
        if token is not None:
            data["csrf_token"] = token
        response = console.post("/console/user/grant", data=data)
        assert response.status_code == 403
    assert balance_micro(console, "alice") == before


def test_headers_and_assets(console: TestClient) -> None:
    sign_in(console, READ_KEY)
    response = console.get("/console")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["cache-control"] == "no-store"
    assert "<script" not in response.text and "http://" not in response.text.replace(
        "http://www.w3.org", ""
    )
    css = console.get("/console/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert console.get("/console/static/../main.py").status_code == 404


def test_console_is_not_in_the_api_document(console: TestClient) -> None:
    paths = console.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/console")]


def test_without_keys_loopback_callers_look_and_act(make_client: AppFactory) -> None:
    client = make_client(config_yaml=CONFIG, console_ranking_seconds=0)
    load_usage(client)
    page = client.get("/console/user", params={"id": "alice"})
    assert page.status_code == 200
    assert "No API key configured" in page.text and "Grant credits" in page.text
    before = balance_micro(client, "alice")
    review = _review(client, page.text, "grant", amount="2")
    _confirm(client, review)
    assert balance_micro(client, "alice") == before + 2_000_000


def test_without_keys_remote_callers_are_refused(make_client: AppFactory) -> None:
    local = make_client(config_yaml=CONFIG)
    remote = TestClient(local.app, client=("203.0.113.9", 40000))
    response = remote.get("/console")
    assert response.status_code == 401
    assert "only loopback clients" in response.text


def test_display_currency_amounts(console: TestClient) -> None:
    sign_in(console, READ_KEY)
    page = console.get("/console/user", params={"id": "carol"}).text
    # carol: 100,000 start credits + 5 granted = 100,005 credits = 0.100005 USD = 0.05 EUR.
    assert '100,005&nbsp;credits</span> <span class="fiat">0.05 EUR</span>' in page
    assert Decimal("0.100005") * Decimal("0.5") > 0


def test_secure_cookie_behind_https(make_client: AppFactory) -> None:
    plain = make_client(config_yaml=CONFIG, api_keys=API_KEYS)
    client = TestClient(plain.app, base_url="https://testserver")
    form = client.get("/console/login")
    assert "Secure" in form.headers["set-cookie"]
    response = client.post(
        "/console/login",
        data={"api_key": READ_KEY, "csrf_token": csrf(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303 and "Secure" in response.headers["set-cookie"]


def test_ids_are_escaped(console: TestClient) -> None:
    hostile = '<img src=x onerror="alert(1)">'
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    granted = console.post(f"/v1/balances/{hostile}/credits", json={"amount": "1"}, headers=headers)
    assert granted.status_code == 200, granted.text
    sign_in(console, READ_KEY)
    for page in (
        console.get("/console/users").text,
        console.get("/console/user", params={"id": hostile}).text,
    ):
        assert hostile not in page
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
