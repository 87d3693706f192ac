"""${VAR} references: resolved from the environment, unset ones are errors."""

from __future__ import annotations

import pytest

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


def test_unset_variable_names_path_and_variable(
    problems: Problems, custom_yaml: CustomYaml
) -> None:
    text = custom_yaml("headers: {Authorization: 'Bearer ${TOKEN} ${OTHER}'}", omit=("apiKey",)) + (
        "      apiKey: '${NOPE_KEY}'\n"
    )
    found = problems(text, {})
    assert has(found, f"{P}.apiKey: environment variable NOPE_KEY is not set")
    assert has(found, f"{P}.headers.Authorization: environment variable TOKEN is not set")
    assert has(found, f"{P}.headers.Authorization: environment variable OTHER is not set")


def test_unset_variable_in_base_url(problems: Problems, custom_yaml: CustomYaml) -> None:
    text = custom_yaml(omit=("baseURL",)) + "      baseURL: '${LLM_URL}'\n"
    assert has(problems(text, {}), f"{P}.baseURL: environment variable LLM_URL is not set")


def test_empty_variable_for_api_key(problems: Problems, custom_yaml: CustomYaml) -> None:
    text = custom_yaml(omit=("apiKey",)) + "      apiKey: '${KEY}'\n"
    assert has(problems(text, {"KEY": ""}), f"{P}.apiKey: must not be empty")


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
