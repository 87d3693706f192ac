"""GET /v1/pricebooks: a version per config load whose prices differ from the last."""

from __future__ import annotations

from sqlalchemy import select

from billing.models import UsageEvent
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event
from tests.reprice.helpers import CHEAPER_CONFIG, SAME_PRICES_CONFIG, scalar


def test_versions_follow_price_changes_and_events_name_theirs(make_client: AppFactory) -> None:
    first = make_client(CLAUDE_CONFIG)
    first.post("/v1/usage", json=event("e1"))
    make_client(SAME_PRICES_CONFIG)  # other settings, same prices: no new version
    cheaper = make_client(CHEAPER_CONFIG)
    cheaper.post("/v1/usage", json=event("e2"))

    versions = cheaper.get("/v1/pricebooks").json()["versions"]
    # Newest first (ids are a sequence: PostgreSQL's keeps counting across tests).
    assert [v["current"] for v in versions] == [True, False]
    new, old = versions
    assert new["id"] > old["id"]
    assert new["content_hash"] != old["content_hash"] and new["rates"] is None
    priced_with = select(UsageEvent.event_id, UsageEvent.price_book).order_by(UsageEvent.id)
    runtime = cheaper.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        assert list(session.execute(priced_with)) == [
            ("e1", old["content_hash"]),
            ("e2", new["content_hash"]),
        ]

    shown = first.get(f"/v1/pricebooks/{old['id']}").json()
    assert shown["current"] is True  # the first app still prices with version 1
    rates = shown["rates"]["endpoints"]["Claude-Compatible"]["token_config"]
    assert rates["claude-sonnet-4-5"]["prompt"] == "3"
    assert rates["claude-sonnet-4-5"]["cache_write"] == "3.75"
    assert shown["rates"]["endpoints"]["Local"]["free_of_charge"] is True
    cheap = cheaper.get(f"/v1/pricebooks/{new['id']}").json()["rates"]["endpoints"][
        "Claude-Compatible"
    ]
    assert cheap["token_config"]["claude-sonnet-4-5"]["prompt"] == "2"
    by_hash = cheaper.get(f"/v1/pricebooks/{new['content_hash']}").json()
    assert by_hash["id"] == new["id"]
    assert (
        scalar(cheaper, select(UsageEvent.price_book).where(UsageEvent.event_id == "e2"))
        == (new["content_hash"])
    )


def test_reload_records_a_new_version(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    path = client.app.state.runtime.settings.config  # type: ignore[attr-defined]
    path.write_text(CHEAPER_CONFIG, encoding="utf-8")
    assert client.post("/v1/admin/reload").status_code == 200
    versions = client.get("/v1/pricebooks").json()["versions"]
    assert [v["current"] for v in versions] == [True, False]
    assert versions[0]["id"] > versions[1]["id"]


def test_unknown_version_is_404(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    for unknown in ("999999999", "99999999999999999999999", "0123456789abcdef"):
        answer = client.get(f"/v1/pricebooks/{unknown}")
        assert answer.status_code == 404 and answer.json()["error"] == "not_found", unknown
