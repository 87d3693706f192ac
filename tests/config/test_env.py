"""${VAR} references: resolved from the environment; an unset one is a warning, as in
LibreChat, and an endpoint credential that uses it is an Unresolved value."""

from __future__ import annotations

import pytest

from billing.config.env import Unresolved, UnresolvedValue
from billing.config.loader import parse_config

from .support import CustomYaml, Load, Problems, has

P = "endpoints.custom[0]"


def test_whole_and_embedded_references(load: Load, custom_yaml: CustomYaml) -> None:
    text = (
        custom_yaml(
            """
        headers:
          Authorization: 'Bearer ${TOKEN}'
          X-Conversation: '{{LIBRECHAT_BODY_CONVERSATIONID}}'
        addParams: {route: ['${ROUTE}'], deep: {label: 'r-${ROUTE}'}}
        titlePrompt: '${PREFIX} {convo}'
        """,
            omit=("apiKey", "baseURL"),
        )
        + "      apiKey: ${KEY}\n      baseURL: https://${HOST}/v1\n"
    )
    env = {"KEY": "k-1", "HOST": "llm.internal", "TOKEN": "t", "ROUTE": "eu", "PREFIX": "Title:"}
    local = load(text, env).endpoints["Local"]
    assert local.api_key == "k-1"
    assert local.base_url == "https://llm.internal/v1"
    assert dict(local.headers) == {
        "Authorization": "Bearer t",
        "X-Conversation": "{{LIBRECHAT_BODY_CONVERSATIONID}}",
    }
    assert local.extra["addParams"] == {"route": ["eu"], "deep": {"label": "r-eu"}}
    assert local.extra["titlePrompt"] == "Title: {convo}"


UNUSABLE = "billing cannot use this value (e.g. to fetch models) until it is set"


def test_unset_variable_is_a_warning_naming_key_variable_and_line(
    load: Load, custom_yaml: CustomYaml
) -> None:
    text = custom_yaml("headers: {Authorization: 'Bearer ${TOKEN} ${OTHER}'}", omit=("apiKey",)) + (
        "      apiKey: '${NOPE_KEY}'\n"
    )
    config = load(text, {"OTHER": "set"})
    assert config.warnings == (
        f"{P}.headers.Authorization: environment variable TOKEN is not set; {UNUSABLE} (line 7)",
        f"{P}.apiKey: environment variable NOPE_KEY is not set; {UNUSABLE} (line 8)",
    )
    local = config.endpoints["Local"]
    # The file's text, not the partly substituted one: nothing resolved leaks out.
    assert local.api_key == Unresolved("${NOPE_KEY}", ("NOPE_KEY",), f"{P}.apiKey")
    assert local.headers["Authorization"] == Unresolved(
        "Bearer ${TOKEN} ${OTHER}", ("TOKEN",), f"{P}.headers.Authorization"
    )


def test_asking_for_an_unresolved_value_names_key_and_variable(
    load: Load, custom_yaml: CustomYaml
) -> None:
    text = custom_yaml(omit=("apiKey", "baseURL"))
    text += "      apiKey: '${LLM_KEY}'\n      baseURL: 'https://${LLM_HOST}/${LLM_PATH}'\n"
    local = load(text, {}).endpoints["Local"]
    with pytest.raises(UnresolvedValue) as caught:
        local.require_api_key()
    assert str(caught.value) == (
        f"{P}.apiKey: environment variable LLM_KEY is not set; "
        "set it and reload the config to use this endpoint"
    )
    with pytest.raises(
        UnresolvedValue, match=r"baseURL: environment variable LLM_HOST and LLM_PATH are not set"
    ):
        local.require_base_url()
    assert local.require_headers() == {}
    # Nor can it slip into a request as text.
    with pytest.raises(UnresolvedValue, match="LLM_KEY is not set"):
        _ = f"Bearer {local.api_key}"


def test_resolved_values_are_plain_strings(load: Load, custom_yaml: CustomYaml) -> None:
    text = custom_yaml("headers: {X-Org: '${ORG}'}", omit=("apiKey",)) + "      apiKey: '${KEY}'\n"
    local = load(text, {"KEY": "sk-1", "ORG": "acme"}).endpoints["Local"]
    assert (local.require_api_key(), local.require_headers()) == ("sk-1", {"X-Org": "acme"})


def test_empty_variable_counts_as_unset(load: Load, custom_yaml: CustomYaml) -> None:
    # LibreChat reads `process.env[name] || text`: an empty value keeps the reference.
    text = custom_yaml(omit=("apiKey",)) + "      apiKey: '${KEY}'\n"
    config = load(text, {"KEY": ""})
    assert isinstance(config.endpoints["Local"].api_key, Unresolved)
    assert has(config.warnings, f"{P}.apiKey: environment variable KEY is empty; {UNUSABLE}")


def test_unset_variable_elsewhere_is_kept_as_written(load: Load, custom_yaml: CustomYaml) -> None:
    text = custom_yaml(
        """
        titlePrompt: '${TITLE_PREFIX} {convo}'
        addParams: {route: '${ROUTE}'}
        models:
          default: ['${DEFAULT_MODEL}', m2]
        """,
        omit=("models",),
    )
    config = load(text, {})
    local = config.endpoints["Local"]
    assert local.extra["titlePrompt"] == "${TITLE_PREFIX} {convo}"
    assert local.extra["addParams"] == {"route": "${ROUTE}"}
    assert local.models == ("${DEFAULT_MODEL}", "m2")
    kept = "kept as written"
    assert has(
        config.warnings, f"{P}.titlePrompt: environment variable TITLE_PREFIX is not set; {kept}"
    )
    assert has(
        config.warnings, f"{P}.addParams.route: environment variable ROUTE is not set; {kept}"
    )
    assert has(
        config.warnings,
        f"{P}.models.default[0]: environment variable DEFAULT_MODEL is not set; {kept}",
    )


def test_user_provided_is_accepted(load: Load, custom_yaml: CustomYaml) -> None:
    text = custom_yaml(omit=("apiKey", "baseURL"))
    text += "      apiKey: user_provided\n      baseURL: user_provided\n"
    local = load(text, {}).endpoints["Local"]
    assert local.api_key == "user_provided"
    assert local.user_provided_base_url is True


def test_values_are_not_expanded_twice(load: Load, custom_yaml: CustomYaml) -> None:
    text = custom_yaml(omit=("apiKey",)) + "      apiKey: '${KEY}'\n"
    assert load(text, {"KEY": "${OTHER}"}).endpoints["Local"].api_key == "${OTHER}"


def test_a_number_from_the_environment_is_still_a_string(
    problems: Problems, custom_yaml: CustomYaml
) -> None:
    text = custom_yaml("tokenConfig: {m1: {prompt: '${RATE}', completion: 1, context: 10}}")
    found = problems(text, {"RATE": "3"})
    assert has(found, f"{P}.tokenConfig.m1.prompt: must be a number, got a string")


def test_environ_defaults_to_os_environ(
    monkeypatch: pytest.MonkeyPatch, custom_yaml: CustomYaml
) -> None:
    monkeypatch.setenv("BILLING_TEST_LOCAL_KEY", "from-os")
    text = custom_yaml(omit=("apiKey",)) + "      apiKey: '${BILLING_TEST_LOCAL_KEY}'\n"
    assert parse_config(text).endpoints["Local"].api_key == "from-os"


def test_sections_billing_does_not_read_are_left_alone(load: Load) -> None:
    # LibreChat's own secrets need not exist in billing's environment.
    config = load(
        """
        mcpServers:
          github: {url: 'https://mcp/${GITHUB_TOKEN}'}
        webSearch: {serperApiKey: '${SERPER_API_KEY}'}
        interface: {customWelcome: 'Hi ${NAME}'}
        """,
        {},
    )
    assert config.warnings == ()
