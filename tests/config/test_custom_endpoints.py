"""Each rule of the custom endpoint object: a failing case naming the exact path."""

from __future__ import annotations

import pytest

from .support import CustomYaml, Load, Problems, has

P = "endpoints.custom[0]"


def test_minimal_custom_endpoint(load: Load, custom_yaml: CustomYaml) -> None:
    config = load(custom_yaml())
    local = config.endpoints["Local"]
    assert local.kind == "custom"
    assert local.api_key == "local-key"
    assert local.base_url == "http://localhost:8080/v1"
    assert local.models == ("m1", "m2")
    assert (local.fetch_models, local.user_id_query, local.free_of_charge) == (False, False, False)
    assert local.provider is None and local.extra == {}
    assert config.warnings == ()


@pytest.mark.parametrize("key", ["name", "apiKey", "baseURL", "models"])
def test_required_keys(problems: Problems, custom_yaml: CustomYaml, key: str) -> None:
    assert has(problems(custom_yaml(omit=(key,))), f"{P}.{key}: required")


STR, LIST, MAP = "must be a string", "must be a list", "must be a mapping"
BOOL = "must be true or false"
NAME, MODELS = ("name",), ("models",)

# (extra YAML, keys of the base endpoint to drop, path under the item, message)
CASES = [
    ("name: ''", NAME, "name", "must not be empty"),
    ("name: 5", NAME, "name", f"{STR}, got a number"),
    ("name: openAI", NAME, "name", "'openAI' is a built-in endpoint name; choose another"),
    ("name: bedrock", NAME, "name", "'bedrock' is a built-in endpoint name; choose another"),
    ("apiKey: 123", ("apiKey",), "apiKey", f"{STR}, got a number"),
    ("apiKey: ''", ("apiKey",), "apiKey", "must not be empty"),
    ("baseURL: [a]", ("baseURL",), "baseURL", f"{STR}, got a list"),
    ("provider: openai", (), "provider", "must be one of anthropic (got 'openai')"),
    ("iconURL: [x]", (), "iconURL", f"{STR}, got a list"),
    ("models: [m1]", MODELS, "models", f"{MAP}, got a list"),
    ("models: {fetch: true}", MODELS, "models.default", "required"),
    ("models: {default: []}", MODELS, "models.default", "must not be empty"),
    ("models: {default: m1}", MODELS, "models.default", f"{LIST} of strings, got a string"),
    ("models: {default: [m1, 3]}", MODELS, "models.default[1]", f"{STR}, got a number"),
    ("models: {default: [m1, '']}", MODELS, "models.default[1]", "must not be empty"),
    ("models: {default: [m1], fetch: 'true'}", MODELS, "models.fetch", f"{BOOL}, got a string"),
    (
        "models: {default: [m1], userIdQuery: 1}",
        MODELS,
        "models.userIdQuery",
        f"{BOOL}, got a number",
    ),
    ("titleConvo: 'true'", (), "titleConvo", f"{BOOL}, got a string"),
    ("titleTiming: later", (), "titleTiming", "must be one of immediate, final (got 'later')"),
    (
        "titleMethod: tools",
        (),
        "titleMethod",
        "must be one of completion, structured, functions (got 'tools')",
    ),
    ("titleModel: 5", (), "titleModel", f"{STR}, got a number"),
    ("titlePrompt: 'Title this:'", (), "titlePrompt", "must contain {convo}"),
    ("titlePrompt: 3", (), "titlePrompt", f"{STR}, got a number"),
    ("titlePromptTemplate: 'User: {input}'", (), "titlePromptTemplate", "must contain {output}"),
    ("titlePromptTemplate: 'AI: {output}'", (), "titlePromptTemplate", "must contain {input}"),
    ("titlePromptTemplate: x", (), "titlePromptTemplate", "must contain {input} and {output}"),
    ("titleEndpoint: true", (), "titleEndpoint", f"{STR}, got a boolean"),
    (
        "titleMessageRole: tool",
        (),
        "titleMessageRole",
        "must be one of system, user, assistant (got 'tool')",
    ),
    ("modelDisplayLabel: true", (), "modelDisplayLabel", f"{STR}, got a boolean"),
    ("addParams: [a]", (), "addParams", f"{MAP}, got a list"),
    ("dropParams: stop", (), "dropParams", f"{LIST} of strings, got a string"),
    ("dropParams: [stop, 1]", (), "dropParams[1]", f"{STR}, got a number"),
    ("customParams: []", (), "customParams", f"{MAP}, got a list"),
    (
        "customParams: {defaultParamsEndpoint: 1}",
        (),
        "customParams.defaultParamsEndpoint",
        f"{STR}, got a number",
    ),
    (
        "customParams: {reasoningFormat: high}",
        (),
        "customParams.reasoningFormat",
        "must be one of reasoning_effort, reasoning_object, disabled (got 'high')",
    ),
    (
        "customParams: {reasoningKey: thinking}",
        (),
        "customParams.reasoningKey",
        "must be one of reasoning, reasoning_content (got 'thinking')",
    ),
    ("customParams: {paramDefinitions: {}}", (), "customParams.paramDefinitions", LIST),
    (
        "customParams: {paramDefinitions: [1]}",
        (),
        "customParams.paramDefinitions[0]",
        f"{MAP}, got a number",
    ),
    ("headers: [a]", (), "headers", f"{MAP}, got a list"),
    ("headers: {X-Retries: 3}", (), "headers.X-Retries", f"{STR}, got a number"),
    ("headers: {X-Flag: true}", (), "headers.X-Flag", f"{STR}, got a boolean"),
    ("headers: {X-Empty: }", (), "headers.X-Empty", f"{STR}, got null"),
    ("directEndpoint: 'true'", (), "directEndpoint", f"{BOOL}, got a string"),
    ("freeOfCharge: 'yes'", (), "freeOfCharge", f"{BOOL}, got a string"),
]


@pytest.mark.parametrize(("extra", "omit", "path", "message"), CASES)
def test_each_rule(
    problems: Problems,
    custom_yaml: CustomYaml,
    extra: str,
    omit: tuple[str, ...],
    path: str,
    message: str,
) -> None:
    found = problems(custom_yaml(extra, omit=omit))
    assert has(found, f"{P}.{path}: {message}"), found


def test_item_must_be_a_mapping(problems: Problems) -> None:
    found = problems("endpoints:\n  custom:\n    - just-a-name\n")
    assert has(found, f"{P}: must be a mapping, got a string")


def test_custom_must_be_a_list(problems: Problems) -> None:
    found = problems("endpoints:\n  custom: {name: x}\n")
    assert has(found, "endpoints.custom: must be a list of endpoints")


def test_names_are_unique(problems: Problems, custom_yaml: CustomYaml) -> None:
    item = custom_yaml().split("\n", 2)[2]
    found = problems(custom_yaml() + item)
    message = "'Local' is used by another custom endpoint; names must be unique"
    assert has(found, f"endpoints.custom[1].name: {message}")


def test_all_documented_keys_accepted(load: Load, custom_yaml: CustomYaml) -> None:
    config = load(
        custom_yaml(
            """
            provider: anthropic
            iconURL: /assets/local.svg
            models:
              default: [m1]
              fetch: false
              userIdQuery: true
            titleConvo: true
            titleTiming: final
            titleMethod: functions
            titleModel: current_model
            titlePrompt: 'Title: {convo}'
            titlePromptTemplate: 'Q: {input} A: {output}'
            titleEndpoint: google
            titleMessageRole: assistant
            modelDisplayLabel: Local AI
            addParams: {temperature: 0.2, web_search: true, nested: {a: [1, 2]}}
            dropParams: [stop]
            customParams:
              defaultParamsEndpoint: anthropic
              reasoningFormat: disabled
              reasoningKey: reasoning
              paramDefinitions:
                - {key: temperature, default: 0.5}
            headers: {Content-Type: application/json}
            directEndpoint: false
            freeOfCharge: true
            """,
            omit=("models",),
        )
    )
    local = config.endpoints["Local"]
    assert config.warnings == ()
    assert local.provider == "anthropic"
    assert local.icon_url == "/assets/local.svg"
    assert local.user_id_query is True
    assert local.model_display_label == "Local AI"
    assert local.free_of_charge is True
    assert set(local.extra) == {
        "titleConvo", "titleTiming", "titleMethod", "titleModel", "titlePrompt",
        "titlePromptTemplate", "titleEndpoint", "titleMessageRole", "addParams", "dropParams",
        "customParams", "directEndpoint",
    }  # fmt: skip
    assert str(local.extra["addParams"]["temperature"]) == "0.2"
    assert local.extra["customParams"]["paramDefinitions"][0]["key"] == "temperature"


def test_title_endpoint_may_name_another_custom_endpoint(
    load: Load, custom_yaml: CustomYaml
) -> None:
    text = custom_yaml("titleEndpoint: Other") + (
        "    - {name: Other, apiKey: k, baseURL: u, models: {default: [x]}}\n"
    )
    assert load(text).endpoints["Local"].extra["titleEndpoint"] == "Other"


@pytest.mark.parametrize("target", ["Nope", "assistants", "agents", "local"])
def test_title_endpoint_cross_check(
    problems: Problems, custom_yaml: CustomYaml, target: str
) -> None:
    found = problems(custom_yaml(f"titleEndpoint: {target}"))
    assert has(
        found,
        f"{P}.titleEndpoint: unknown endpoint {target!r} "
        "(use openAI, azureOpenAI, google, anthropic, bedrock or a custom name)",
    )


def test_unknown_keys_warn_but_load(load: Load, custom_yaml: CustomYaml) -> None:
    text = custom_yaml(
        """
        temperature: 1
        models:
          default: [m1]
          limit: 3
        customParams: {shape: x}
        """,
        omit=("models",),
    )
    warnings = load(text).warnings
    assert has(warnings, f"{P}.temperature: unknown key (ignored)")
    assert has(warnings, f"{P}.models.limit: unknown key (ignored)")
    assert has(warnings, f"{P}.customParams.shape: unknown key (ignored)")


def test_misplaced_models_key_hint(load: Load, custom_yaml: CustomYaml) -> None:
    (warning,) = load(custom_yaml("fetch: true")).warnings
    assert warning.startswith(f"{P}.fetch: unknown key (ignored); did you mean models.fetch?")


def test_anthropic_provider_does_not_fetch(load: Load, custom_yaml: CustomYaml) -> None:
    text = custom_yaml(
        "provider: anthropic\nmodels: {default: [m1], fetch: true}", omit=("models",)
    )
    assert has(load(text).warnings, f"{P}.models.fetch: not used with provider: anthropic")


def test_duplicate_model_names_warn(load: Load, custom_yaml: CustomYaml) -> None:
    text = custom_yaml("models: {default: [m1, m1]}", omit=("models",))
    assert has(load(text).warnings, f"{P}.models.default: model 'm1' is listed more than once")


def test_free_of_charge(load: Load, custom_yaml: CustomYaml) -> None:
    config = load(custom_yaml("freeOfCharge: true"))
    assert config.endpoints["Local"].free_of_charge is True
    assert config.endpoints["openAI"].free_of_charge is False
