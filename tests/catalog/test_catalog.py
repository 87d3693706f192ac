"""GET /api/endpoints, /api/models and /api/pricing/coverage over HTTP, with real model servers."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest

from tests.catalog.model_server import model_server
from tests.conftest import AppFactory

STATIC_CONFIG = """
endpoints:
  openAI:
    models:
      default: [gpt-4o-mini]
    tokenConfig:
      gpt-4o:
        prompt: 2.5
        completion: 10
        context: 128000
  custom:
    - name: Claude-Compatible
      provider: anthropic
      apiKey: test-key
      baseURL: https://api.anthropic.com
      iconURL: https://example.test/claude.png
      modelDisplayLabel: Claude
      models:
        default: [claude-sonnet-4-5, claude-opus-4.5]
      tokenConfig:
        claude-sonnet-4-5:
          prompt: 3
          completion: 15
          context: 200000
          cacheRead: 0.3
          cacheWrite: 3.75
    - name: Local
      apiKey: none
      baseURL: http://127.0.0.1:9/v1
      freeOfCharge: true
      models:
        default: [llama3.1:8b]
"""


def _tables() -> dict[str, Any]:
    data = resources.files("billing.pricing").joinpath("data/default_rates.json").read_text()
    parsed: dict[str, Any] = json.loads(data, parse_float=Decimal, parse_int=Decimal)
    return parsed


def _endpoint(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in body["endpoints"] if e["name"] == name)


def _model(endpoint: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in endpoint["models"] if m["name"] == name)


def _fetch_config(base_url: str, extra: str = "", api_key: str = "sk-test-123") -> str:
    return f"""
endpoints:
  custom:
    - name: Remote
      apiKey: "{api_key}"
      baseURL: "{base_url}"
      models:
        default: [fallback-model]
        fetch: true
{extra}
"""


def test_endpoints_describe_config_and_pricing(make_client: AppFactory) -> None:
    body = make_client(STATIC_CONFIG).get("/api/endpoints").json()
    names = [e["name"] for e in body["endpoints"]]
    assert names[:8] == [
        "openAI", "azureOpenAI", "google", "anthropic",
        "assistants", "azureAssistants", "agents", "bedrock",
    ]  # fmt: skip
    assert names[8:] == ["Claude-Compatible", "Local"]

    claude = _endpoint(body, "Claude-Compatible")
    assert (claude["type"], claude["provider"]) == ("custom", "anthropic")
    assert (claude["display_label"], claude["icon"]) == (
        "Claude",
        "https://example.test/claude.png",
    )
    sonnet = _model(claude, "claude-sonnet-4-5")
    assert sonnet["priced_by"] == "token_config"
    assert sonnet["context_window"] == 200000
    assert sonnet["rates"] == {
        "prompt": "3", "completion": "15", "cache_write": "3.75", "cache_read": "0.3",
        "cache_write_1h": "6",
    }  # fmt: skip
    # docs/design.md's example of a surprising substring match.
    opus = _model(claude, "claude-opus-4.5")
    assert (opus["priced_by"], opus["value_key"], opus["surprising_match"]) == (
        "default",
        "claude-opus-4",
        True,
    )

    local = _endpoint(body, "Local")
    assert local["free_of_charge"] is True
    assert _model(local, "llama3.1:8b")["priced_by"] == "free"
    assert _model(local, "llama3.1:8b")["rates"]["prompt"] == "0"

    openai = _endpoint(body, "openAI")
    assert (openai["type"], openai["provider"], openai["display_label"]) == (
        "openAI",
        "openai",
        "openAI",
    )
    listed = {m["name"]: m for m in openai["models"]}
    assert listed["gpt-4o"]["source"] == "token_config"
    assert listed["gpt-4o"]["context_window"] == 128000
    mini = listed["gpt-4o-mini"]
    table = _tables()["token_values"][mini["value_key"]]
    assert mini["value_key"] == "gpt-4o-mini"
    assert mini["surprising_match"] is False
    assert Decimal(mini["rates"]["prompt"]) == table["prompt"]
    assert Decimal(mini["rates"]["completion"]) == table["completion"]


def test_premium_tier_is_shown(make_client: AppFactory) -> None:
    tables = _tables()
    key = next(k for k in tables["premium_token_values"] if k in tables["token_values"])
    threshold = tables["premium_token_values"][key]["threshold"]
    config = f"endpoints:\n  openAI:\n    models:\n      default: [{key}]\n"
    openai = _endpoint(make_client(config).get("/api/endpoints").json(), "openAI")
    model = _model(openai, key)
    assert (model["priced_by"], model["value_key"]) == ("default", key)
    assert model["premium"]["threshold"] == threshold
    premium_prompt = tables["premium_token_values"][key]["prompt"]
    assert Decimal(model["premium"]["rates"]["prompt"]) == premium_prompt
    assert Decimal(model["rates"]["prompt"]) == tables["token_values"][key]["prompt"]


def test_models_by_endpoint(make_client: AppFactory) -> None:
    body = make_client(STATIC_CONFIG).get("/api/models").json()["models"]
    assert [m["name"] for m in body["Claude-Compatible"]] == [
        "claude-sonnet-4-5",
        "claude-opus-4.5",
    ]
    assert body["Claude-Compatible"][0]["context_window"] == 200000
    assert body["Claude-Compatible"][0]["rates"]["cache_write"] == "3.75"
    assert body["azureOpenAI"] == []


def test_fetches_models_with_the_api_key_and_caches(make_client: AppFactory) -> None:
    served = ["gpt-4o-mini", "phi-3-medium-128k-instruct", "totally-unknown-model"]
    with model_server(served) as server:
        client = make_client(_fetch_config(server.base_url))
        first = _endpoint(client.get("/api/endpoints").json(), "Remote")
        assert first["models_source"] == "fetched"
        assert [m["name"] for m in first["models"]] == served
        assert server.requests[0]["Authorization"] == "Bearer sk-test-123"
        assert server.requests[0]["path"] == "/v1/models"
        # Cached: the other catalog routes do not ask again.
        client.get("/api/models")
        coverage = client.get("/api/pricing/coverage").json()
        assert len(server.requests) == 1

    assert [(i["endpoint"], i["model"]) for i in coverage["fallback"]] == [
        ("Remote", "totally-unknown-model")
    ]
    odd = {i["model"]: i for i in coverage["surprising"]}
    assert odd["phi-3-medium-128k-instruct"]["value_key"] == "8k"
    assert odd["phi-3-medium-128k-instruct"]["source"] == "fetched"
    assert "gpt-4o-mini" not in odd
    assert coverage["priced"] == coverage["models"] - 1


def test_configured_authorization_header_wins(
    make_client: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CATALOG_TEST_TOKEN", "from-env-token")
    headers = '      headers:\n        Authorization: "Bearer ${CATALOG_TEST_TOKEN}"\n'
    headers += '        X-Tenant: "acme"\n'
    with model_server(["served-model"], required_authorization="Bearer from-env-token") as server:
        client = make_client(_fetch_config(server.base_url, headers, api_key="sk-ignored"))
        remote = _endpoint(client.get("/api/endpoints").json(), "Remote")
    assert remote["models_source"] == "fetched"
    assert [m["name"] for m in remote["models"]] == ["served-model"]
    assert server.requests[0]["X-Tenant"] == "acme"


@pytest.mark.parametrize(
    ("api_key", "base_url", "variable", "key"),
    [
        ("${CATALOG_UNSET_KEY}", None, "CATALOG_UNSET_KEY", "apiKey"),
        ("sk-test-123", "http://${CATALOG_UNSET_HOST}/v1", "CATALOG_UNSET_HOST", "baseURL"),
    ],
)
def test_fetch_with_an_unset_variable_names_it_and_sends_nothing(
    make_client: AppFactory,
    monkeypatch: pytest.MonkeyPatch,
    api_key: str,
    base_url: str | None,
    variable: str,
    key: str,
) -> None:
    monkeypatch.delenv(variable, raising=False)
    with model_server(["served-model"]) as server:
        config = _fetch_config(base_url or server.base_url, api_key=api_key)
        remote = _endpoint(make_client(config).get("/api/endpoints").json(), "Remote")
    assert server.requests == []
    assert remote["models_source"] == "fallback"
    assert remote["fetch_error"] == (
        f"endpoints.custom[0].{key}: environment variable {variable} is not set; "
        "set it and reload the config to use this endpoint"
    )
    assert [m["name"] for m in remote["models"]] == ["fallback-model"]


def test_unset_variable_in_a_header_stops_the_fetch(
    make_client: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CATALOG_UNSET_TENANT", raising=False)
    headers = '      headers:\n        X-Tenant: "${CATALOG_UNSET_TENANT}"\n'
    with model_server(["served-model"]) as server:
        client = make_client(_fetch_config(server.base_url, headers))
        remote = _endpoint(client.get("/api/endpoints").json(), "Remote")
    assert server.requests == []
    assert "headers.X-Tenant: environment variable CATALOG_UNSET_TENANT" in remote["fetch_error"]


def test_refused_fetch_falls_back_to_default(make_client: AppFactory) -> None:
    with model_server(["served-model"], required_authorization="Bearer right-key") as server:
        client = make_client(_fetch_config(server.base_url, api_key="wrong-key"))
        remote = _endpoint(client.get("/api/endpoints").json(), "Remote")
    assert remote["models_source"] == "fallback"
    assert "401" in remote["fetch_error"]
    assert [m["name"] for m in remote["models"]] == ["fallback-model"]


def test_slow_server_times_out_to_default(make_client: AppFactory) -> None:
    with model_server(["served-model"], delay_seconds=2.0) as server:
        client = make_client(_fetch_config(server.base_url), models_fetch_timeout_seconds=0.3)
        remote = _endpoint(client.get("/api/endpoints").json(), "Remote")
        assert remote["models_source"] == "fallback"
        assert "timed out" in remote["fetch_error"]
        assert [m["name"] for m in remote["models"]] == ["fallback-model"]
        # The failure is cached briefly: no second wait on the next request.
        client.get("/api/models")
        assert len(server.requests) == 1


def test_user_id_query_is_per_user(make_client: AppFactory) -> None:
    with model_server(["served-model"]) as server:
        config = _fetch_config(server.base_url).replace(
            "        fetch: true", "        fetch: true\n        userIdQuery: true"
        )
        client = make_client(config)
        client.get("/api/endpoints", params={"user_id": "alice"})
        client.get("/api/endpoints", params={"user_id": "alice"})
        client.get("/api/endpoints", params={"user_id": "bob"})
    assert [r["path"] for r in server.requests] == ["/v1/models?user=alice", "/v1/models?user=bob"]


def test_user_provided_endpoints_are_never_fetched(make_client: AppFactory) -> None:
    with model_server(["served-model"]) as server:
        config = f"""
endpoints:
  custom:
    - name: BringYourOwnURL
      apiKey: sk-secret
      baseURL: user_provided
      headers:
        X-Secret: do-not-send
      models:
        default: [byo-model]
        fetch: true
    - name: BringYourOwnKey
      apiKey: user_provided
      baseURL: "{server.base_url}"
      models:
        default: [byok-model]
        fetch: true
"""
        body = make_client(config).get("/api/endpoints").json()
    assert server.requests == []
    url = _endpoint(body, "BringYourOwnURL")
    assert (url["user_provided_base_url"], url["models_source"]) == (True, "config")
    assert [m["name"] for m in url["models"]] == ["byo-model"]
    key = _endpoint(body, "BringYourOwnKey")
    assert (key["user_provided_key"], key["models_source"]) == (True, "config")


def test_catalog_needs_read_scope(make_client: AppFactory) -> None:
    client = make_client(api_keys="ingest-key-0123456789:ingest;read-key-0123456789:read")
    for path in ("/api/endpoints", "/api/models", "/api/pricing/coverage"):
        assert client.get(path).status_code == 401
        denied = client.get(path, headers={"Authorization": "Bearer ingest-key-0123456789"})
        assert denied.status_code == 403
        allowed = client.get(path, headers={"Authorization": "Bearer read-key-0123456789"})
        assert allowed.status_code == 200
