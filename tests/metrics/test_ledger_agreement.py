"""After a mixed batch of events the counters agree with the ledger, exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG, event
from tests.metrics.scrape import delta, label_values, parse, total

JSON = {"content-type": "application/json"}


def _scrape(client: TestClient) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def _post_mixed_traffic(client: TestClient) -> None:
    accepted = client.post(
        "/v1/usage",
        json={
            "events": [
                event("a1", "u1"),
                event("a2", "u2", context="incomplete"),
                event("a3", "u1", model="mystery-model-9000"),  # unpriced: fallback rate
                event("a4", "u3", endpoint="Local", model="llama3.1:8b"),  # free endpoint
                event("a1", "u1"),  # repeated inside the batch: duplicate
            ]
        },
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["accepted"] == 4
    retry = event("a2", "u2", context="incomplete")  # the very same content: a duplicate
    again = client.post("/v1/usage", json={"events": [retry, event("a5", "u2")]})
    assert (again.json()["accepted"], again.json()["duplicates"]) == (1, 1)
    # Refused requests: one bad event refuses its whole batch of 3; then two malformed bodies.
    bad_batch = [event("r1"), event("r2", endpoint="no-such-endpoint"), event("r3")]
    assert client.post("/v1/usage", json={"events": bad_batch}).status_code == 422
    assert client.post("/v1/usage", json={"user_id": "u1"}).status_code == 422
    assert client.post("/v1/usage", content=b"{not json", headers=JSON).status_code == 422


def _ledger(db_url: str) -> dict[str, object]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        tokens = dict(
            conn.execute(
                text(
                    "select token_type, sum(tokens) from ledger_entry "
                    "where kind = 'usage' group by token_type"
                )
            ).all()
        )
        usage_micro = conn.execute(
            text("select -sum(amount_micro) from ledger_entry where kind = 'usage'")
        ).scalar_one()
        start = conn.execute(
            text(
                "select count(*), sum(amount_micro) from ledger_entry where kind = 'start_balance'"
            )
        ).one()
        events = conn.execute(text("select count(*) from usage_event")).scalar_one()
        fallback = conn.execute(
            text("select count(*) from usage_event where priced_by = 'fallback'")
        ).scalar_one()
    engine.dispose()
    return {
        "tokens": {k: int(v) for k, v in tokens.items()},
        "usage_credits": Decimal(int(usage_micro)) / 1_000_000,
        "start_count": start[0],
        "start_credits": Decimal(int(start[1])) / 1_000_000,
        "events": events,
        "fallback": fallback,
    }


def test_counters_agree_with_the_ledger(make_client: AppFactory, db_url: str) -> None:
    client = make_client(CLAUDE_CONFIG)
    before = _scrape(client)
    _post_mixed_traffic(client)
    after = _scrape(client)
    moved = delta(before, after)
    ledger = _ledger(db_url)

    assert total(moved, "billing_usage_events_total", outcome="accepted") == ledger["events"] == 5
    assert total(moved, "billing_usage_events_total", outcome="duplicate") == 2
    assert total(moved, "billing_usage_events_total", outcome="rejected") == 3 + 1 + 1
    tokens = ledger["tokens"]
    assert isinstance(tokens, dict)
    for token_type in ("prompt", "completion", "cache_write", "cache_read"):
        counted = total(moved, "billing_tokens_total", token_type=token_type)
        assert counted == tokens[token_type], token_type
    # Float only at the metrics boundary: equal to the ledger to the micro-credit.
    counted_credits = Decimal(repr(total(moved, "billing_cost_credits_total")))
    assert abs(counted_credits - ledger["usage_credits"]) < Decimal("0.000001")
    assert total(moved, "billing_unpriced_events_total") == ledger["fallback"] == 1
    assert total(moved, "billing_grants_total", kind="start_balance") == ledger["start_count"] == 3
    assert (
        Decimal(repr(total(moved, "billing_grant_credits_total", kind="start_balance")))
        == (ledger["start_credits"])
    )
    # Bounded labels: the unlisted model is "other"; no user ids, no raw paths.
    assert total(moved, "billing_tokens_total", model="other", token_type="prompt") == 1000
    assert not {"u1", "u2", "u3", "mystery-model-9000", "no-such-endpoint"} & label_values(after)
    assert total(moved, "billing_http_request_duration_seconds_count", route="/v1/usage") == 5
    # The two accepted requests, one after the other: two ingest groups, 5 + 2 events.
    assert total(moved, "billing_group_commit_items_count", committer="ingest") == 2
    assert total(moved, "billing_group_commit_items_sum", committer="ingest") == 7


def test_a_rolled_back_grant_counts_nothing(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    grant = {"amount": "500", "reason": "welcome", "idempotency_key": "k-1"}
    assert client.post("/v1/balances/u7/credits", json=grant).status_code == 200
    before = _scrape(client)
    # Same key, other amount: the service refuses after touching the balance; rolled back.
    conflict = client.post("/v1/balances/u7/credits", json={**grant, "amount": "700"})
    assert conflict.status_code == 409
    moved = delta(before, _scrape(client))
    assert total(moved, "billing_grants_total") == 0
    assert total(moved, "billing_db_transaction_duration_seconds_count", outcome="rollback") >= 1
    status = total(moved, "billing_http_request_duration_seconds_count", status="409")
    assert status == 1


def _reservation_statuses(db_url: str) -> dict[str, int]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(text("select status, count(*) from reservation group by status")).all()
    engine.dispose()
    return {status: count for status, count in rows}


def test_checks_and_reservations_are_counted_by_outcome(
    make_client: AppFactory, db_url: str
) -> None:
    client = make_client(CLAUDE_CONFIG)
    small = {"endpoint": "Claude-Compatible", "model": "claude-sonnet-4-5"}
    small["tokens"] = {"prompt": 1000}  # type: ignore[assignment]
    huge = {**small, "tokens": {"prompt": 10**9}}
    before = _scrape(client)

    assert client.post("/v1/balances/u1/check", json=small).json()["allowed"] is True
    assert client.post("/v1/balances/u1/check", json=huge).json()["allowed"] is False
    kept = client.post("/v1/reservations", json={**small, "user_id": "u1"})
    freed = client.post("/v1/reservations", json={**small, "user_id": "u1"})
    assert kept.status_code == freed.status_code == 201
    assert client.post("/v1/reservations", json={**huge, "user_id": "u1"}).status_code == 402
    released = f"/v1/reservations/{freed.json()['reservation_id']}/release"
    assert client.post(released).status_code == 200
    assert client.post(released).status_code == 200  # idempotent: counted once
    settle = event("s1", "u1", reservation_id=kept.json()["reservation_id"])
    assert client.post("/v1/usage", json=settle).status_code == 200

    moved = delta(before, _scrape(client))
    statuses = _reservation_statuses(db_url)
    outcome = {
        name: total(moved, "billing_reservations_total", outcome=name)
        for name in ("created", "denied", "settled", "released", "expired")
    }
    assert outcome == {"created": 2, "denied": 1, "settled": 1, "released": 1, "expired": 0}
    assert statuses == {"settled": 1, "released": 1}
    assert total(moved, "billing_balance_checks_total", outcome="allowed") == 1
    assert total(moved, "billing_balance_checks_total", outcome="denied") == 1


REFILL_CONFIG = CLAUDE_CONFIG.replace(
    "  startBalance: 100000\n",
    "  startBalance: 100000\n  autoRefillEnabled: true\n  refillIntervalValue: 1\n"
    "  refillIntervalUnit: hours\n  refillAmount: 5000\n",
)


def test_refills_and_grants_agree_with_the_ledger(make_client: AppFactory, db_url: str) -> None:
    client = make_client(REFILL_CONFIG)
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    before = _scrape(client)
    for hours, user in ((0, "u1"), (0, "u2"), (2, "u1"), (2, "u2"), (3, "u1")):
        now = start + timedelta(hours=hours)
        runtime.clock = lambda now=now: now
        body = event(f"{user}-{hours}", user, occurred_at=now.isoformat())
        assert client.post("/v1/usage", json=body).status_code == 200
    assert client.post("/v1/balances/u1/credits", json={"amount": "-250"}).status_code == 200
    assert client.put("/v1/balances/u2", json={"credits": "1"}).status_code == 200
    moved = delta(before, _scrape(client))

    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("select kind, count(*), sum(amount_micro) from ledger_entry group by kind")
        ).all()
    engine.dispose()
    ledger = {kind: (count, Decimal(int(micro)) / 1_000_000) for kind, count, micro in rows}
    assert (
        total(moved, "billing_refills_total") == ledger["refill"][0] == 4
    )  # u2 refills on the PUT too
    assert Decimal(repr(total(moved, "billing_refill_credits_total"))) == ledger["refill"][1]
    for kind, direction in (("grant", "debit"), ("set", "debit")):
        assert total(moved, "billing_grants_total", kind=kind, direction=direction) == 1
        counted = total(moved, "billing_grant_credits_total", kind=kind, direction=direction)
        assert -Decimal(repr(counted)) == ledger[kind][1]
