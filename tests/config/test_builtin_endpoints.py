"""Built-in endpoint blocks: what LibreChat's schema checks there is checked, the rest
(which LibreChat drops unchecked) only warns."""

from __future__ import annotations

from .support import Load, Problems, has


def test_models_as_a_list_of_names(load: Load) -> None:
    config = load(
        """
        endpoints:
          bedrock:
            availableRegions: [us-east-1, eu-central-1]
            models:
              - anthropic.claude-3-5-sonnet-20241022-v2:0
              - meta.llama3-1-70b-instruct-v1:0
          anthropic:
            models: [claude-sonnet-4-5, claude-haiku-4-5]
            titleConvo: true
            titleModel: claude-haiku-4-5
          google:
            models:
              default: [gemini-2.5-pro, {name: gemini-2.5-flash, description: Fast}]
        """
    )
    assert config.endpoints["bedrock"].models == (
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
        "meta.llama3-1-70b-instruct-v1:0",
    )
    assert config.endpoints["anthropic"].models == ("claude-sonnet-4-5", "claude-haiku-4-5")
    assert config.endpoints["google"].models == ("gemini-2.5-pro", "gemini-2.5-flash")
    assert config.warnings == ()


def test_settings_librechat_reads_elsewhere_are_accepted(load: Load) -> None:
    config = load(
        """
        endpoints:
          openAI:
            apiKey: '${OPENAI_API_KEY}'
            baseURL: https://proxy.internal/v1
            streamRate: 35
            titleConvo: true
            titleModel: gpt-4o-mini
            summarize: false
          anthropic:
            vertex:
              region: us-east5
              projectId: my-project
          azureOpenAI:
            titleConvo: true
            plugins: true
            groups:
              - group: eastus
                apiKey: '${AZURE_API_KEY}'
                instanceName: acme-eastus
                version: 2024-03-01-preview
                models:
                  gpt-4o: {deploymentName: gpt-4o-prod}
          agents:
            recursionLimit: 50
            disableBuilder: false
            capabilities: [execute_code, file_search, tools]
          all:
            streamRate: 20
        """,
        {},  # none of these variables need to exist for billing
    )
    assert config.warnings == ()
    assert config.endpoints["openAI"].api_key is None  # LibreChat's, not read


def test_values_librechat_does_not_check_only_warn(load: Load) -> None:
    config = load(
        """
        endpoints:
          openAI:
            iconURL: [not, a, url]
            titleMessageRole: narrator
            headers: {X-Team: 7}
            models: openai-latest
            tokenConfig:
              gpt-4o: {prompt: 2.5, completion: 10, context: 128000}
          bedrock:
            models: [anthropic.claude-v2, 3]
            directEndpoint: maybe
        """
    )
    expected = [
        "endpoints.openAI.iconURL: must be a string, got a list; ignored",
        "endpoints.openAI.titleMessageRole: must be one of system, user, assistant "
        "(got 'narrator'); ignored",
        "endpoints.openAI.headers.X-Team: is a number, sent as the text '7'",
        "endpoints.openAI.models: must be a mapping, got a string; ignored",
        "endpoints.bedrock.models[1]: must be a model name or {name, description}, "
        "got a number; ignored",
        "endpoints.bedrock.directEndpoint: must be true or false, got a string; ignored",
    ]
    for line in expected:
        assert has(config.warnings, line), (line, config.warnings)
    assert len(config.warnings) == len(expected), config.warnings
    openai = config.endpoints["openAI"]
    assert openai.icon_url is None and openai.models == ()
    assert openai.token_config["gpt-4o"].context == 128000
    assert config.endpoints["bedrock"].models == ("anthropic.claude-v2",)


def test_what_librechat_checks_on_every_endpoint_is_refused(problems: Problems) -> None:
    found = problems(
        """
        endpoints:
          openAI:
            titleConvo: 'yes'
            streamRate: fast
          google:
            titleMethod: tools
        """
    )
    assert has(found, "endpoints.openAI.titleConvo: must be true or false, got a string")
    assert has(found, "endpoints.openAI.streamRate: must be a number, got a string")
    assert has(
        found,
        "endpoints.google.titleMethod: "
        "must be one of completion, structured, functions (got 'tools')",
    )
