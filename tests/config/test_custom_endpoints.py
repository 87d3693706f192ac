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


SKIPPED = "LibreChat skips this endpoint, so billing does too"


@pytest.mark.parametrize("key", ["name", "apiKey", "baseURL", "models"])
def test_endpoint_missing_a_required_key_is_skipped(
    load: Load, custom_yaml: CustomYaml, key: str
) -> None:
    # LibreChat's schema lets each of these be absent and then drops the endpoint.
    text = (
        custom_yaml(omit=(key,))
        + "    - {name: Kept, apiKey: k, baseURL: u, models: {default: [x]}}\n"
    )
    config = load(text)
    assert [e.name for e in config.endpoints.values() if e.kind == "custom"] == ["Kept"]
    assert config.warnings == (f"{P}.{key}: missing: {SKIPPED} (line 3)",)


@pytest.mark.parametrize("key", ["name", "apiKey", "baseURL"])
def test_endpoint_with_an_empty_required_key_is_skipped(
    load: Load, custom_yaml: CustomYaml, key: str
) -> None:
    config = load(custom_yaml(f"{key}: ''", omit=(key,)))
    assert "Local" not in config.endpoints
    assert has(config.warnings, f"{P}.{key}: empty: {SKIPPED}")


STR, LIST, MAP = "must be a string", "must be a list", "must be a mapping"
BOOL = "must be true or false"
ITEM = "must be a model name or {name, description}"
NAME, MODELS = ("name",), ("models",)

# (extra YAML, keys of the base endpoint to drop, path under the item, message)
CASES = [
    ("name: 5", NAME, "name", f"{STR}, got a number"),
    ("name: openAI", NAME, "name", "'openAI' is a built-in endpoint name; choose another"),
    ("name: bedrock", NAME, "name", "'bedrock' is a built-in endpoint name; choose another"),
    ("apiKey: 123", ("apiKey",), "apiKey", f"{STR}, got a number"),
    ("baseURL: [a]", ("baseURL",), "baseURL", f"{STR}, got a list"),
    ("provider: openai", (), "provider", "must be one of anthropic (got 'openai')"),
    ("iconURL: [x]", (), "iconURL", f"{STR}, got a list"),
    ("models: [m1]", MODELS, "models", f"{MAP}, got a list"),
    ("models: {fetch: true}", MODELS, "models.default", "required"),
    ("models: {default: []}", MODELS, "models.default", "must not be empty"),
    ("name: custom", NAME, "name", "'custom' is a built-in endpoint name; choose another"),
    ("models: {default: m1}", MODELS, "models.default", f"{LIST} of models, got a string"),
    ("models: {default: [m1, 3]}", MODELS, "models.default[1]", f"{ITEM}, got a number"),
    ("models: {default: [m1, [m2]]}", MODELS, "models.default[1]", f"{ITEM}, got a list"),
    ("models: {default: [{description: Fast}]}", MODELS, "models.default[0].name", "required"),
    ("models: {default: [{name: 5}]}", MODELS, "models.default[0].name", f"{STR}, got a number"),
    (
        "models: {default: [{name: m1, description: 2}]}",
        MODELS,
        "models.default[0].description",
        f"{STR}, got a number",
    ),
    ("streamRate: fast", (), "streamRate", "must be a number, got a string"),
    ("summarize: 'no'", (), "summarize", f"{BOOL}, got a string"),
    ("summaryModel: [a]", (), "summaryModel", f"{STR}, got a list"),
    ("forcePrompt: 1", (), "forcePrompt", f"{BOOL}, got a number"),
    ("customOrder: first", (), "customOrder", "must be a number, got a string"),
    ("models: {default: [m1], fetch: 'true'}", MODELS, "models.fetch", f"{BOOL}, got a string"),
    (
        "models: {default: [m1], userIdQuery: 1}",
        MODELS,
        "models.userIdQuery",
        f"{BOOL}, got a number",
    ),
    ("titleConvo: 'true'", (), "titleConvo", f"{BOOL}, got a string"),
    (
        "titleMethod: tools",
        (),
        "titleMethod",
        "must be one of completion, structured, functions (got 'tools')",
    ),
    ("titleModel: 5", (), "titleModel", f"{STR}, got a number"),
    ("titlePrompt: 3", (), "titlePrompt", f"{STR}, got a number"),
    ("titleEndpoint: true", (), "titleEndpoint", f"{STR}, got a boolean"),
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


def test_repeated_name_later_endpoint_wins(load: Load, custom_yaml: CustomYaml) -> None:
    # LibreChat keys custom endpoints by name, so the later one replaces the earlier.
    text = custom_yaml() + (
        "    - name: Local\n"
        "      apiKey: second-key\n"
        "      baseURL: http://localhost:9090/v1\n"
        "      models: {default: [m3]}\n"
    )
    config = load(text)
    local = config.endpoints["Local"]
    assert (local.api_key, local.models) == ("second-key", ("m3",))
    assert config.warnings == (
        "endpoints.custom[1].name: 'Local' is also the name of endpoints.custom[0]; "
        "this later one is used, as in LibreChat (line 8)",
    )


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
def test_unknown_title_endpoint_only_warns(
    load: Load, custom_yaml: CustomYaml, target: str
) -> None:
    config = load(custom_yaml(f"titleEndpoint: {target}"))
    assert config.endpoints["Local"].extra["titleEndpoint"] == target
    assert has(
        config.warnings,
        f"{P}.titleEndpoint: unknown endpoint {target!r} "
        "(use openAI, azureOpenAI, google, anthropic, bedrock or a custom name)",
    )


# Values LibreChat's schema accepts (it does not check them, or only their
# type): (extra YAML, path under the item, warning). The endpoint still loads.
WARNINGS = [
    ("titleTiming: later", "titleTiming", "must be one of immediate, final (got 'later'); ignored"),
    ("titlePrompt: 'Name this chat'", "titlePrompt", "does not contain {convo}"),
    ("titlePromptTemplate: 'User: {input}'", "titlePromptTemplate", "does not contain {output}"),
    ("titlePromptTemplate: 'AI: {output}'", "titlePromptTemplate", "does not contain {input}"),
    (
        "titlePromptTemplate: Summarise",
        "titlePromptTemplate",
        "does not contain {input} and {output}",
    ),
    (
        "titleMessageRole: tool",
        "titleMessageRole",
        "must be one of system, user, assistant (got 'tool'); ignored",
    ),
    ("headers: {X-Empty: }", "headers.X-Empty", "must be a string, got null; ignored"),
    ("headers: {X-Tags: [a]}", "headers.X-Tags", "must be a string, got a list; ignored"),
    ("dropParams: [stop, '']", "dropParams[1]", "empty string (ignored)"),
    ("models: {default: [m1, '']}", "models.default[1]", "empty model name (ignored)"),
]


@pytest.mark.parametrize(("extra", "path", "warning"), WARNINGS)
def test_what_librechat_accepts_only_warns(
    load: Load, custom_yaml: CustomYaml, extra: str, path: str, warning: str
) -> None:
    omit = ("models",) if extra.startswith("models") else ()
    config = load(custom_yaml(extra, omit=omit))
    assert "Local" in config.endpoints
    assert has(config.warnings, f"{P}.{path}: {warning}"), config.warnings


def test_model_items_may_have_descriptions(load: Load, custom_yaml: CustomYaml) -> None:
    text = custom_yaml(
        """
        models:
          default:
            - name: llama-3.3-70b
              description: Strong general model
            - {name: qwen2.5-coder}
            - mistral-small
        """,
        omit=("models",),
    )
    config = load(text)
    assert config.endpoints["Local"].models == ("llama-3.3-70b", "qwen2.5-coder", "mistral-small")
    assert config.warnings == ()


def test_header_numbers_and_booleans_are_sent_as_text(load: Load, custom_yaml: CustomYaml) -> None:
    config = load(custom_yaml("headers: {X-Retries: 3, X-Stream: true, X-Org: acme}"))
    assert dict(config.endpoints["Local"].headers) == {
        "X-Retries": "3",
        "X-Stream": "true",
        "X-Org": "acme",
    }
    assert has(config.warnings, f"{P}.headers.X-Retries: is a number, sent as the text '3'")
    assert has(config.warnings, f"{P}.headers.X-Stream: is a boolean, sent as the text 'true'")


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
