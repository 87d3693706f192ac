"""The gateway in-process (the real app over a real database) in front of a real
HTTP provider on 127.0.0.1: hold, forward, record, settle, refusals and failures."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from billing.balances.check import estimate_cost
from billing.balances.check_schemas import SpendEstimateIn
from billing.gateway import metering
from billing.group_commit import run_transaction
from tests.conftest import AppFactory
from tests.gateway.support import (
    ADMIN_KEY,
    ANTHROPIC_UPSTREAM_KEY,
    API_KEYS,
    CLAUDE,
    GATEWAY_KEY,
    GPT,
    INGEST_KEY,
    OPENAI_UPSTREAM_KEY,
    START_BALANCE,
    balance,
    identity,
    reservations,
    set_balance,
    tokens_by_type,
    usage_rows,
)
from tests.gateway.upstream import COMPLETION_TOKENS, PROMPT_TOKENS, FakeUpstream
from tests.hot_path_support import counting_app_requests, hot_path_off

CHAT = "/gateway/OpenAI-Up/v1/chat/completions"
MESSAGES = "/gateway/Claude-Up/v1/messages"
GPT_COST = Decimal("0.15") * PROMPT_TOKENS + Decimal("0.6") * COMPLETION_TOKENS
CLAUDE_COST = Decimal(3) * PROMPT_TOKENS + Decimal(15) * COMPLETION_TOKENS
BEARER = {"Authorization": f"Bearer {GATEWAY_KEY}"}


def _chat(**extra: Any) -> dict[str, Any]:
    return {"model": GPT, "messages": [{"role": "user", "content": "Say hello"}], **extra}


def _message(**extra: Any) -> dict[str, Any]:
    return {
        "model": CLAUDE,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Say hello"}],
        **extra,
    }


@pytest.fixture
def gateway(make_client: AppFactory, gateway_config: str) -> TestClient:
    # One database hold per call, as for a user near the end of their credit: what
    # these tests show of holds; credit leases have tests of their own (test_leases.py).
    return make_client(
        gateway_config, api_keys=API_KEYS, gateway_timeout_seconds=0.5, gateway_lease_calls=0
    )


def test_chat_completion_is_held_forwarded_recorded_and_settled(
    gateway: TestClient, upstream: FakeUpstream
) -> None:
    headers = {
        **BEARER,
        **identity("alice", conversation_id="conv-1", message_id="msg-1", user_role="ADMIN"),
    }
    answer = gateway.post(CHAT, json=_chat(user="alice@example.com"), headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "Hello! How can I help you today?"
    event_id = answer.headers["x-billing-event-id"]
    assert (
        answer.headers["x-upstream-request-id"] == "req_upstream_1"
    )  # the upstream's, passed back

    rows = usage_rows(gateway, "alice")
    assert tokens_by_type(rows, event_id) == {
        "prompt": PROMPT_TOKENS,
        "completion": COMPLETION_TOKENS,
    }
    assert {(r["conversation_id"], r["message_id"], r["context"]) for r in rows} == {
        ("conv-1", "msg-1", "message")
    }
    assert balance(gateway, "alice") == START_BALANCE - GPT_COST
    (hold,) = reservations(gateway, "alice")
    assert hold["status"] == "settled" and hold["settled_event_id"] == event_id

    (sent,) = upstream.received
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {OPENAI_UPSTREAM_KEY}"
    assert GATEWAY_KEY not in str(sent.headers)
    assert not [name for name in sent.headers if name.startswith("x-billing")]
    # {{LIBRECHAT_*}} filled from the identity headers; one the gateway cannot know is empty.
    assert sent.headers["x-upstream-user"] == "alice"
    assert sent.headers["x-upstream-conversation"] == "conv-1"
    assert sent.headers["x-upstream-message"] == "msg-1"
    assert sent.headers["x-upstream-role"] == "ADMIN"
    assert sent.headers["x-upstream-email"] == ""
    # addParams added, dropParams removed, the rest as sent.
    assert sent.body == {**_chat(), "safe_prompt": True}


def test_anthropic_messages_with_x_api_key(gateway: TestClient, upstream: FakeUpstream) -> None:
    headers = {"x-api-key": GATEWAY_KEY, "anthropic-version": "2023-06-01", **identity("bob")}
    answer = gateway.post(MESSAGES, json=_message(), headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["type"] == "message"
    event_id = answer.headers["x-billing-event-id"]
    assert tokens_by_type(usage_rows(gateway, "bob"), event_id) == {
        "prompt": PROMPT_TOKENS,
        "completion": COMPLETION_TOKENS,
    }
    assert balance(gateway, "bob") == START_BALANCE - CLAUDE_COST
    (sent,) = upstream.received
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == ANTHROPIC_UPSTREAM_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers


def test_a_user_who_cannot_afford_the_estimate_gets_402_and_the_upstream_is_not_called(
    gateway: TestClient, upstream: FakeUpstream
) -> None:
    set_balance(gateway, "poor", "0")
    openai_answer = gateway.post(CHAT, json=_chat(), headers={**BEARER, **identity("poor")})
    assert openai_answer.status_code == 402, openai_answer.text
    error = openai_answer.json()["error"]
    assert error["code"] == "insufficient_balance"
    assert error["type"] == "insufficient_quota"
    assert "poor" in error["message"] and "credits available" in error["message"]

    headers = {"x-api-key": GATEWAY_KEY, **identity("poor")}
    anthropic_answer = gateway.post(MESSAGES, json=_message(), headers=headers)
    assert anthropic_answer.status_code == 402
    body = anthropic_answer.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "billing_error"
    assert body["error"]["code"] == "insufficient_balance"
    assert upstream.received == []
    assert reservations(gateway, "poor") == []
    assert balance(gateway, "poor") == 0


def test_the_hold_is_the_estimate_of_input_and_output_cap(
    gateway: TestClient, upstream: FakeUpstream
) -> None:
    # 404 characters of input (content and role: 101 tokens, + 4 for the message) and
    # max_tokens 1000: 105 * 0.15 + 1000 * 0.6 = 615.75 credits; 615 is refused, 616 is not.
    body = _chat(messages=[{"role": "user", "content": "x" * 400}], max_tokens=1000)
    set_balance(gateway, "carol", "615")
    refused = gateway.post(CHAT, json=body, headers={**BEARER, **identity("carol")})
    assert refused.status_code == 402
    assert "the estimate is 615.75" in refused.json()["error"]["message"]
    set_balance(gateway, "carol", "616")
    allowed = gateway.post(CHAT, json=body, headers={**BEARER, **identity("carol")})
    assert allowed.status_code == 200, allowed.text
    # Charged the provider's count, not the estimate.
    assert balance(gateway, "carol") == Decimal(616) - GPT_COST


def test_an_upstream_error_is_passed_through_and_charges_nothing(
    gateway: TestClient, upstream: FakeUpstream
) -> None:
    upstream.mode = "error"
    answer = gateway.post(CHAT, json=_chat(), headers={**BEARER, **identity("dave")})
    assert answer.status_code == 500
    assert answer.json()["error"]["type"] == "server_error"  # the upstream's own body
    assert "x-billing-event-id" not in answer.headers
    (hold,) = reservations(gateway, "dave")
    assert hold["status"] == "released"
    assert balance(gateway, "dave") == START_BALANCE
    assert usage_rows(gateway, "dave") == []


def test_a_timeout_is_504_and_a_refused_connection_502_charging_nothing(
    gateway: TestClient, upstream: FakeUpstream
) -> None:
    upstream.mode = "hang"
    slow = gateway.post(CHAT, json=_chat(), headers={**BEARER, **identity("erin")})
    assert slow.status_code == 504, slow.text
    assert slow.json()["error"]["code"] == "upstream_timeout"
    down = gateway.post(
        "/gateway/Down/v1/chat/completions", json=_chat(), headers={**BEARER, **identity("erin")}
    )
    assert down.status_code == 502, down.text
    assert down.json()["error"]["code"] == "upstream_unreachable"
    assert "nothing was charged" in down.json()["error"]["message"]
    assert {h["status"] for h in reservations(gateway, "erin")} == {"released"}
    assert balance(gateway, "erin") == START_BALANCE
    assert usage_rows(gateway, "erin") == []


@pytest.mark.parametrize(
    ("path", "status", "code", "mention"),
    [
        ("/gateway/Nope/v1/chat/completions", 404, "unknown_endpoint", "'Nope' is not configured"),
        ("/gateway/openai-up/v1/chat/completions", 404, "unknown_endpoint", "OpenAI-Up"),
        ("/gateway/anthropic/v1/messages", 404, "unsupported_endpoint", "built-in"),
        ("/gateway/Claude-Up/v1/chat/completions", 404, "unsupported_route", "/v1/messages"),
        ("/gateway/OpenAI-Up/v1/messages", 404, "unsupported_route", "/v1/chat/completions"),
        ("/gateway/BYOK/v1/chat/completions", 400, "user_provided_not_supported", "apiKey"),
        (
            "/gateway/Unset/v1/chat/completions",
            500,
            "endpoint_misconfigured",
            "GATEWAY_TEST_UNSET_KEY",
        ),
    ],
)
def test_endpoints_the_gateway_cannot_call_are_refused_clearly(
    gateway: TestClient, upstream: FakeUpstream, path: str, status: int, code: str, mention: str
) -> None:
    body = _message() if path.endswith("/messages") else _chat()
    answer = gateway.post(path, json=body, headers={**BEARER, **identity("frank")})
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    assert mention in error["message"]
    assert upstream.received == []


def test_requests_without_identity_key_or_scope_are_refused_in_the_provider_shape(
    gateway: TestClient, upstream: FakeUpstream
) -> None:
    no_user = gateway.post(CHAT, json=_chat(), headers=BEARER)
    assert no_user.status_code == 400
    assert "X-Billing-User-Id" in no_user.json()["error"]["message"]
    unfilled = gateway.post(
        CHAT, json=_chat(), headers={**BEARER, "X-Billing-User-Id": "{{LIBRECHAT_USER_ID}}"}
    )
    assert unfilled.status_code == 400
    assert "placeholder" in unfilled.json()["error"]["message"]
    no_key = gateway.post(CHAT, json=_chat(), headers=identity("gina"))
    assert no_key.status_code == 401
    assert no_key.json()["error"]["code"] == "unauthorized"
    anthropic_no_key = gateway.post(MESSAGES, json=_message(), headers=identity("gina"))
    assert anthropic_no_key.json()["type"] == "error"
    ingest_only = gateway.post(
        CHAT, json=_chat(), headers={"Authorization": f"Bearer {INGEST_KEY}", **identity("gina")}
    )
    assert ingest_only.status_code == 403
    assert ingest_only.json()["error"]["code"] == "forbidden"
    admin = gateway.post(
        CHAT, json=_chat(), headers={"Authorization": f"Bearer {ADMIN_KEY}", **identity("gina")}
    )
    assert admin.status_code == 200  # admin implies gateway
    bad_json = gateway.post(
        CHAT,
        content=b"{",
        headers={**BEARER, **identity("gina"), "content-type": "application/json"},
    )
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["message"].startswith("body: invalid JSON")
    assert len(upstream.received) == 1


def _sse_data(text: str) -> list[str]:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


def test_streams_pass_through_and_record_the_usage_chunk(
    gateway: TestClient, upstream: FakeUpstream
) -> None:
    headers = {**BEARER, **identity("hank")}
    with gateway.stream("POST", CHAT, json=_chat(stream=True), headers=headers) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        event_id = answer.headers["x-billing-event-id"]
        data = _sse_data(answer.read().decode())
    # The gateway asked for the usage; the client did not, so it does not see that chunk.
    assert upstream.received[-1].body["stream_options"] == {"include_usage": True}
    assert data[-1] == "[DONE]"
    assert '"choices": []' not in "".join(data)
    assert len(data) == 12  # role, 9 words, finish, [DONE]
    assert tokens_by_type(usage_rows(gateway, "hank"), event_id) == {
        "prompt": PROMPT_TOKENS,
        "completion": COMPLETION_TOKENS,
    }

    asked = _chat(stream=True, stream_options={"include_usage": True})
    with gateway.stream("POST", CHAT, json=asked, headers=headers) as answer:
        data = _sse_data(answer.read().decode())
    assert '"choices": []' in data[-2]  # the client asked: it gets the usage chunk
    assert balance(gateway, "hank") == START_BALANCE - 2 * GPT_COST


def test_anthropic_streams_are_recorded_from_message_start_and_message_delta(
    gateway: TestClient, upstream: FakeUpstream
) -> None:
    headers = {"x-api-key": GATEWAY_KEY, **identity("iris")}
    with gateway.stream("POST", MESSAGES, json=_message(stream=True), headers=headers) as answer:
        assert answer.status_code == 200
        event_id = answer.headers["x-billing-event-id"]
        text = answer.read().decode()
    assert text == b"".join(upstream.message_events(CLAUDE)).decode()  # unchanged
    assert tokens_by_type(usage_rows(gateway, "iris"), event_id) == {
        "prompt": PROMPT_TOKENS,
        "completion": COMPLETION_TOKENS,
    }


def test_a_stream_without_usage_is_recorded_from_an_estimate(
    gateway: TestClient, upstream: FakeUpstream
) -> None:
    upstream.mode = "no_usage"
    headers = {**BEARER, **identity("jack")}
    with gateway.stream("POST", CHAT, json=_chat(stream=True), headers=headers) as answer:
        event_id = answer.headers["x-billing-event-id"]
        answer.read()
    # "user" and "Say hello" (13 characters: 4 tokens) + 4 for the message; 32 characters
    # streamed: 8 tokens.
    assert tokens_by_type(usage_rows(gateway, "jack"), event_id) == {"prompt": 8, "completion": 8}


def test_responses_embeddings_and_models(gateway: TestClient, upstream: FakeUpstream) -> None:
    headers = {**BEARER, **identity("kate")}
    response = gateway.post(
        "/gateway/OpenAI-Up/v1/responses", json={"model": GPT, "input": "Hi"}, headers=headers
    )
    assert response.status_code == 200, response.text
    embeddings = gateway.post(
        "/gateway/OpenAI-Up/v1/embeddings",
        json={"model": GPT, "input": ["a", "b"]},
        headers=headers,
    )
    assert embeddings.status_code == 200, embeddings.text
    rows = usage_rows(gateway, "kate")
    assert tokens_by_type(rows, response.headers["x-billing-event-id"]) == {
        "prompt": PROMPT_TOKENS,
        "completion": COMPLETION_TOKENS,
    }
    assert tokens_by_type(rows, embeddings.headers["x-billing-event-id"]) == {
        "prompt": PROMPT_TOKENS
    }
    models = gateway.get("/gateway/OpenAI-Up/v1/models", headers=BEARER)
    assert models.json()["data"][0]["id"] == GPT
    claude_models = gateway.get("/gateway/Claude-Up/v1/models", headers=BEARER)
    assert claude_models.json()["data"][0] == {
        "type": "model",
        "id": CLAUDE,
        "display_name": CLAUDE,
        "created_at": "1970-01-01T00:00:00Z",
    }


def test_each_call_is_counted_timed_and_logged_without_bodies_or_keys(
    gateway: TestClient, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="billing.gateway")
    answer = gateway.post(CHAT, json=_chat(), headers={**BEARER, **identity("lena")})
    assert answer.status_code == 200
    (line,) = [r for r in caplog.records if r.name == "billing.gateway"]
    fields = line.fields  # type: ignore[attr-defined]
    assert fields["gateway_endpoint"] == "OpenAI-Up" and fields["model"] == GPT
    assert fields["status"] == 200 and fields["outcome"] == "recorded"
    assert fields["event_id"] == answer.headers["x-billing-event-id"]
    assert fields["usage"] == "provider" and fields["overhead_ms"] >= 0
    logged = str(fields) + line.getMessage()
    for secret in (GATEWAY_KEY, OPENAI_UPSTREAM_KEY, "Say hello", "Hello! How"):
        assert secret not in logged

    scraped = gateway.get("/metrics").text
    assert (
        'billing_gateway_requests_total{endpoint="OpenAI-Up",model="gpt-4o-mini",status="200"}'
        in scraped
    )
    for name in (
        "billing_gateway_overhead_seconds_count",
        'billing_gateway_upstream_duration_seconds_count{endpoint="OpenAI-Up"}',
        'billing_gateway_upstream_first_byte_seconds_count{endpoint="OpenAI-Up"}',
    ):
        assert name in scraped, name


def test_a_record_that_cannot_be_queued_is_logged_and_the_answer_still_goes_out(
    gateway: TestClient,
    upstream: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The record is prepared after the answer is handed on (billing/gateway/proxy.py
    ``_record_soon``): a failure there is logged, and the hold is left to expire."""

    def refuse(*_: Any, **__: Any) -> None:
        raise RuntimeError("the commit queue is full")

    monkeypatch.setattr(metering, "submit_record", refuse)
    caplog.set_level("INFO", logger="billing.gateway")
    answer = gateway.post(CHAT, json=_chat(), headers={**BEARER, **identity("nora")})
    assert answer.status_code == 200, answer.text
    event_id = answer.headers["x-billing-event-id"]
    assert f"usage event {event_id} was not recorded" in caplog.text
    assert usage_rows(gateway, "nora") == []
    (hold,) = reservations(gateway, "nora")
    assert hold["status"] == "active"  # it expires (reservation_ttl_seconds)


def test_a_compressed_answer_is_passed_on_decoded(
    gateway: TestClient, upstream: FakeUpstream
) -> None:
    upstream.mode = "gzip"
    answer = gateway.post(CHAT, json=_chat(), headers={**BEARER, **identity("mona")})
    assert answer.status_code == 200, answer.text
    assert "content-encoding" not in answer.headers
    assert answer.json()["usage"]["prompt_tokens"] == PROMPT_TOKENS
    assert upstream.received[0].headers["accept-encoding"] == "identity"
    assert balance(gateway, "mona") == START_BALANCE - GPT_COST


def test_models_fetch_asks_the_upstream_with_the_endpoint_key(
    gateway: TestClient, upstream: FakeUpstream
) -> None:
    answer = gateway.get("/gateway/Fetching/v1/models", headers=BEARER)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"][0]["id"] == "upstream-model"
    (sent,) = upstream.received
    assert (sent.method, sent.path) == ("GET", "/v1/models")
    assert sent.headers["authorization"] == f"Bearer {OPENAI_UPSTREAM_KEY}"


def test_an_upstream_cookie_never_follows_into_the_next_call(
    gateway: TestClient, upstream: FakeUpstream
) -> None:
    for user in ("nina", "omar"):
        answer = gateway.post(CHAT, json=_chat(), headers={**BEARER, **identity(user)})
        assert answer.status_code == 200
        assert "set-cookie" not in answer.headers
    assert [r.headers.get("cookie") for r in upstream.received] == [None, None]


def test_a_budget_refusal_is_402_in_the_provider_shape_and_the_role_is_stored(
    gateway: TestClient, upstream: FakeUpstream
) -> None:
    """The hold is refused by the user's budget like by the balance: 402, provider's
    shape, upstream not called. X-Billing-User-Role becomes the user's role."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    budget = {"limit_credits": "1", "period": "day"}
    assert gateway.put("/v1/users/capped/budget", json=budget, headers=admin).status_code == 200
    headers = {**BEARER, **identity("capped", user_role="STUDENT")}
    answer = gateway.post(CHAT, json=_chat(), headers=headers)
    assert answer.status_code == 402, answer.text
    error = answer.json()["error"]
    assert error["code"] == "budget_exceeded" and error["type"] == "insufficient_quota"
    assert upstream.received == []
    # A refused hold changes nothing; a call that goes ahead stores the role.
    ok = gateway.post(CHAT, json=_chat(), headers={**BEARER, **identity("kim", user_role="TA")})
    assert ok.status_code == 200, ok.text
    assert gateway.get("/v1/users/kim", headers=admin).json()["role"] == "TA"


def test_holds_sharing_a_group_transaction_see_each_other(gateway: TestClient) -> None:
    """Holds that arrive together share one transaction (the hold committer): a
    user's later hold counts the earlier ones, and a refused hold fails alone."""
    set_balance(gateway, "dave", "1000")
    runtime = gateway.app.state.runtime  # type: ignore[attr-defined]
    snapshot = runtime.snapshot
    estimate = SpendEstimateIn(  # 400 credits each: two fit in 1000, a third does not
        endpoint="OpenAI-Up", model=GPT, tokens={"prompt": 0}, max_completion_tokens=666
    )
    amount = estimate_cost(snapshot.prices, estimate).total_micro
    assert 2 * amount <= 1_000_000_000 < 3 * amount
    holds: list[metering.HoldRequest] = [("dave", estimate, 600, None)] * 3 + [
        ("erin", estimate, 600, None)
    ]
    results = run_transaction(
        runtime.sessions,
        lambda session: metering._create_holds(session, snapshot, holds, runtime.clock()),
    )
    assert [type(result).__name__ for result in results] == [
        "Created",
        "Created",
        "InsufficientBalance",
        "Created",
    ]
    assert len(reservations(gateway, "dave")) == 2
    assert len(reservations(gateway, "erin")) == 1
    assert balance(gateway, "dave") == 1000  # holds are no balance change


def test_the_hot_path_answers_gateway_calls_as_the_routes_do(
    gateway: TestClient, upstream: FakeUpstream
) -> None:
    """A call with a JSON body and an admitted key (Bearer or x-api-key) is served
    by HttpFront directly (billing/api/hot_path.py); everything else goes through
    the FastAPI route. Both answer alike."""
    with counting_app_requests() as reached_app:
        set_balance(gateway, "poor-hot", "0")
        user = identity("hot")
        x_api_key = {"x-api-key": GATEWAY_KEY, **user}
        cases: list[tuple[str, str, dict[str, Any], Any, bool]] = [
            ("a call", CHAT, {**BEARER, **identity("hot")}, _chat(), True),
            ("402", CHAT, {**BEARER, **identity("poor-hot")}, _chat(), True),
            ("unknown endpoint", "/gateway/Nope/v1/chat/completions", {**BEARER, **identity("hot")},
             _chat(), True),
            ("no user header", CHAT, BEARER, _chat(), True),
            ("no body", CHAT, {**BEARER, **identity("hot")}, None, False),
            ("x-api-key", MESSAGES, x_api_key, _message(), True),
            ("a wrong x-api-key", MESSAGES, {**x_api_key, "x-api-key": "nope"}, _message(), False),
            ("a wrong key", CHAT, {**BEARER, "Authorization": "Bearer no", **user}, _chat(), False),
        ]  # fmt: skip

        def answers() -> list[tuple[int, Any]]:
            found = []
            for what, path, headers, body, hot in cases:
                reached_app.clear()
                answer = gateway.post(path, json=body, headers=headers)
                assert bool(reached_app) is not hot, what
                found.append((answer.status_code, answer.json()))
            return found

        hot = answers()
        with hot_path_off():
            cases = [(what, path, headers, body, False) for what, path, headers, body, _ in cases]
            assert answers() == hot
        assert [status for status, _ in hot] == [200, 402, 404, 400, 400, 200, 401, 401]
