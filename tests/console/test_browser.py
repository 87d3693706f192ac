"""The console in a real browser: headless Chromium (the Debian package) driven by Playwright.

Runs against a real `billing serve`. Without /usr/bin/chromium or Playwright
the tests skip with a message, except when BILLING_REQUIRE_BROWSER=1 (set by
.ci/run), where they fail. Screenshots of every page are written to
``artifacts/console`` (ignored by git; BILLING_ARTIFACTS_DIR moves it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from testkit.databases import empty_tables
from tests.conftest import LiveServer
from tests.console.support import ADMIN_KEY, API_KEYS, CONFIG, READ_KEY, usage

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
REQUIRE_BROWSER = os.environ.get("BILLING_REQUIRE_BROWSER") == "1"
ARTIFACTS = (
    Path(os.environ.get("BILLING_ARTIFACTS_DIR", Path(__file__).parents[2] / "artifacts"))
    / "console"
)
PHONE = {"width": 390, "height": 844}


def _unavailable(message: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(message + " but BILLING_REQUIRE_BROWSER=1")
    pytest.skip(message + ": browser tests skipped")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install playwright)")
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def service(sqlite_url: str, live_server: LiveServer, write_config: Any) -> Iterator[str]:
    """A real `billing serve` with keys, the console config and some usage."""
    empty_tables(sqlite_url)
    env = {"BILLING_API_KEYS": API_KEYS, "BILLING_CONSOLE_RANKING_SECONDS": "0"}
    with live_server(sqlite_url, config=write_config(CONFIG), env=env) as base:
        admin = {"authorization": f"Bearer {ADMIN_KEY}"}
        loaded = httpx.post(
            f"{base}/v1/usage", json={"events": usage(datetime.now(UTC))}, headers=admin
        )
        assert loaded.status_code == 200, loaded.text
        yield base


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, base: str, key: str) -> None:
    page.goto(f"{base}/console")
    assert "/console/login" in page.url
    page.get_by_label("API key").fill(key)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Overview", level=1).wait_for()


def balance_credits(base: str, user_id: str) -> Decimal:
    response = httpx.get(
        f"{base}/v1/balances/{user_id}", headers={"authorization": f"Bearer {ADMIN_KEY}"}
    )
    return Decimal(response.json()["credits"])


def test_operator_journey(browser: Any, service: str) -> None:
    """Sign in, open a user from the list, grant credits, open a conversation, sign out."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{service}/console")
    shot(page, "login")
    sign_in(page, service, ADMIN_KEY)
    assert page.locator("svg[role=img] rect.bar").count() == 30
    shot(page, "overview")

    page.get_by_role("navigation", name="Console pages").get_by_role("link", name="Users").click()
    page.get_by_role("heading", name="Users", level=1).wait_for()
    shot(page, "users")
    page.get_by_role("link", name="alice", exact=True).click()
    page.get_by_role("heading", name="User alice").wait_for()
    shot(page, "user")

    before = balance_credits(service, "alice")
    page.get_by_label("Credits to add (negative to remove)").fill("1000")
    page.get_by_label("Reason (kept in the ledger)").first.fill("browser test")
    page.get_by_role("button", name="Review grant").click()
    page.get_by_role("heading", name=re.compile("Confirm: grant credits")).wait_for()
    shot(page, "confirm-grant")
    assert balance_credits(service, "alice") == before  # not before confirming
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("status").filter(has_text="Credits granted").wait_for()
    after = before + 1000
    assert balance_credits(service, "alice") == after
    assert f"{after:,}" in page.locator("#balance").inner_text()
    assert page.get_by_role("cell", name="browser test").count() >= 1

    page.get_by_role("link", name="conv-a").click()
    page.get_by_role("heading", name="Conversation conv-a").wait_for()
    assert page.locator("ol.messages > li").count() == 2
    shot(page, "conversation")

    page.get_by_role("link", name="Pricing").click()
    page.get_by_role("heading", name="Pricing", level=1).wait_for()
    shot(page, "pricing")

    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("You are signed out").wait_for()
    page.goto(f"{service}/console/users")
    assert "/console/login" in page.url
    context.close()


def test_read_key_cannot_grant(browser: Any, service: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, service, READ_KEY)
    page.goto(f"{service}/console/user?id=alice")
    assert page.get_by_role("button", name="Review grant").count() == 0
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    before = balance_credits(service, "alice")
    refused = page.request.post(
        f"{service}/console/user/grant",
        form={"csrf_token": token, "user_id": "alice", "amount": "5", "step": "confirm"},
    )
    assert refused.status == 403
    assert balance_credits(service, "alice") == before
    context.close()


def test_form_without_csrf_token_is_refused(browser: Any, service: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, service, ADMIN_KEY)
    page.goto(f"{service}/console/user?id=alice")
    before = balance_credits(service, "alice")
    # The real form, its token removed, submitted by the browser.
    page.locator("form[action='/console/user/grant'] input[name=csrf_token]").evaluate(
        "element => element.remove()"
    )
    page.get_by_label("Credits to add (negative to remove)").fill("5")
    page.get_by_role("button", name="Review grant").click()
    page.get_by_role("alert").filter(has_text="security token").wait_for()
    shot(page, "csrf-refused")
    assert balance_credits(service, "alice") == before
    context.close()


def test_keyboard_and_phone_width(browser: Any, service: str) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    page = context.new_page()
    sign_in(page, service, ADMIN_KEY)
    for path, name in (
        ("/console", "phone-overview"),
        ("/console/users", "phone-users"),
        ("/console/user?id=alice", "phone-user"),
        ("/console/conversation?id=conv-a", "phone-conversation"),
        ("/console/pricing", "phone-pricing"),
    ):
        page.goto(f"{service}{path}")
        # Wide tables scroll inside their own region; the page itself does not.
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, (path, overflow)
        shot(page, name)
    # The first Tab reaches the skip link; following it moves focus to the content.
    page.goto(f"{service}/console/user?id=alice")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Every form control has a label.
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
           .filter(e => !e.labels || e.labels.length === 0).length"""
    )
    assert unlabelled == 0
    context.close()
