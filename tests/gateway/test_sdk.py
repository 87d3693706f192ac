"""The official openai and anthropic SDKs against a real `billing serve` whose
gateway forwards to a provider on 127.0.0.1: answers, streams, 402s, charges."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import anthropic
import openai
import pytest

from tests.conftest import LiveServer
from tests.gateway.support import (
    API_KEYS,
    CLAUDE,
    GATEWAY_KEY,
    GPT,
    START_BALANCE,
    balance,
    identity,
    reservations,
    set_balance,
    tokens_by_type,
    usage_rows,
    wait_events,
    write,
)
from tests.gateway.upstream import COMPLETION_TOKENS, PROMPT_TOKENS, WORDS, FakeUpstream

GPT_COST = Decimal("0.15") * PROMPT_TOKENS + Decimal("0.6") * COMPLETION_TOKENS
CLAUDE_COST = Decimal(3) * PROMPT_TOKENS + Decimal(15) * COMPLETION_TOKENS
ANSWER = "".join(WORDS)
QUESTION = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def base(
    live_server: LiveServer, db_url: str, tmp_path: Path, gateway_config: str
) -> Iterator[str]:
    env = {"BILLING_API_KEYS": API_KEYS, "BILLING_GATEWAY_TIMEOUT_SECONDS": "2"}
    with live_server(db_url, config=write(tmp_path, gateway_config), env=env) as url:
        yield url


def _openai(base: str, user_id: str) -> openai.OpenAI:
    headers = identity(user_id, conversation_id="conv-sdk", message_id="msg-sdk")
    return openai.OpenAI(
        base_url=f"{base}/gateway/OpenAI-Up/v1",
        api_key=GATEWAY_KEY,
        default_headers=headers,
        max_retries=0,
    )


def _anthropic(base: str, user_id: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=f"{base}/gateway/Claude-Up",
        api_key=GATEWAY_KEY,
        default_headers=identity(user_id),
        max_retries=0,
    )


def test_openai_sdk_calls_streams_and_402(base: str, upstream: FakeUpstream) -> None:
    client = _openai(base, "sdk-openai")
    raw = client.chat.completions.with_raw_response.create(model=GPT, messages=QUESTION)
    completion = raw.parse()
    assert completion.choices[0].message.content == ANSWER
    assert completion.usage is not None and completion.usage.prompt_tokens == PROMPT_TOKENS
    event_id = raw.headers["x-billing-event-id"]

    chunks = list(client.chat.completions.create(model=GPT, messages=QUESTION, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert all(c.choices for c in chunks)  # no usage-only chunk: this client did not ask
    with_usage = list(
        client.chat.completions.create(
            model=GPT, messages=QUESTION, stream=True, stream_options={"include_usage": True}
        )
    )
    assert with_usage[-1].choices == []
    assert with_usage[-1].usage is not None
    assert with_usage[-1].usage.completion_tokens == COMPLETION_TOKENS

    wait_events(base, "sdk-openai", 3)
    rows = usage_rows(base, "sdk-openai")
    assert tokens_by_type(rows, event_id) == {
        "prompt": PROMPT_TOKENS,
        "completion": COMPLETION_TOKENS,
    }
    assert {r["conversation_id"] for r in rows} == {"conv-sdk"}
    assert len({r["event_id"] for r in rows}) == 3
    assert balance(base, "sdk-openai") == START_BALANCE - 3 * GPT_COST
    # The three calls were held against one credit lease, which they drew from.
    (lease,) = reservations(base, "sdk-openai")
    assert (lease["kind"], lease["status"]) == ("lease", "active")

    set_balance(base, "sdk-poor", "0")
    with pytest.raises(openai.APIStatusError) as refused:
        _openai(base, "sdk-poor").chat.completions.create(model=GPT, messages=QUESTION)
    assert refused.value.status_code == 402
    assert refused.value.code == "insufficient_balance"
    assert "credits available" in refused.value.message
    assert len(upstream.received) == 3  # the refused call never reached it
    assert all(GATEWAY_KEY not in str(r.headers) for r in upstream.received)


def test_anthropic_sdk_calls_streams_and_402(base: str, upstream: FakeUpstream) -> None:
    client = _anthropic(base, "sdk-claude")
    raw = client.messages.with_raw_response.create(model=CLAUDE, max_tokens=100, messages=QUESTION)
    message = raw.parse()
    assert message.content[0].type == "text" and message.content[0].text == ANSWER
    event_id = raw.headers["x-billing-event-id"]

    with client.messages.stream(model=CLAUDE, max_tokens=100, messages=QUESTION) as stream:
        assert "".join(stream.text_stream) == ANSWER
        final = stream.get_final_message()
    assert final.usage.input_tokens == PROMPT_TOKENS
    assert final.usage.output_tokens == COMPLETION_TOKENS

    wait_events(base, "sdk-claude", 2)
    rows = usage_rows(base, "sdk-claude")
    assert tokens_by_type(rows, event_id) == {
        "prompt": PROMPT_TOKENS,
        "completion": COMPLETION_TOKENS,
    }
    assert balance(base, "sdk-claude") == START_BALANCE - 2 * CLAUDE_COST
    sent = upstream.received
    assert {r.headers["x-api-key"] for r in sent} == {"sk-ant-upstream-secret-0002"}

    set_balance(base, "sdk-claude-poor", "1")
    with pytest.raises(anthropic.APIStatusError) as refused:
        _anthropic(base, "sdk-claude-poor").messages.create(
            model=CLAUDE, max_tokens=100, messages=QUESTION
        )
    assert refused.value.status_code == 402
    body = refused.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "billing_error"
    assert body["error"]["code"] == "insufficient_balance"
    assert len(upstream.received) == 2
