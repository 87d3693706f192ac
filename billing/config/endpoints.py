"""Rules for ``endpoints``: every built-in endpoint (which may carry
``tokenConfig`` too), then the custom endpoints in file order, with the
checks that span endpoints (repeated names, titleEndpoint targets).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

from billing.config.endpoint_fields import BUILTIN_FIELDS, CUSTOM_FIELDS, CUSTOM_REQUIRED, MISPLACED
from billing.config.issues import Path, format_path
from billing.config.model import BUILTIN_ENDPOINTS, EndpointConfig
from billing.config.values import Checker

# Names LibreChat refuses for a custom endpoint (its EModelEndpoint values).
RESERVED_NAMES = frozenset({*BUILTIN_ENDPOINTS, "custom"})
# What titleEndpoint may name besides another custom endpoint.
TITLE_ENDPOINT_BUILTINS = ("openAI", "azureOpenAI", "google", "anthropic", "bedrock")

# LibreChat settings of built-in endpoints that billing does not use:
# accepted without a warning, not validated, not kept.
LIBRECHAT_BUILTIN_KEYS = frozenset(
    {
        "plugins", "groups", "assistants", "disableBuilder", "pollIntervalMs",
        "timeoutMs", "supportedIds", "excludedIds", "privateAssistants", "retrievalModels",
        "capabilities", "version", "recursionLimit", "maxRecursionLimit", "allowedProviders",
        "maxCitations", "maxCitationsPerFile", "minRelevanceScore", "availableRegions",
        "guardrailConfig", "apiKey", "baseURL", "vertex", "serverless",
        "instanceName", "deploymentName", "additionalHeaders",
    }
)  # fmt: skip


def read_endpoints(c: Checker, value: Any, path: Path) -> dict[str, EndpointConfig]:
    """All built-in endpoints, then the custom ones in file order."""
    block = {} if value is None else c.mapping(value, path)
    if block is None:
        block = {}
    endpoints: dict[str, EndpointConfig] = {}
    title_refs: list[tuple[Path, str]] = []
    for name in BUILTIN_ENDPOINTS:
        endpoints[name] = _read_builtin(c, name, block.get(name), (*path, name), title_refs)
    customs = block.get("custom")
    if customs is not None and not isinstance(customs, list):
        c.error((*path, "custom"), "must be a list of endpoints")
    first_seen: dict[str, Path] = {}
    for i, item in enumerate(customs if isinstance(customs, list) else []):
        item_path = (*path, "custom", i)
        endpoint = _read_custom(c, item, item_path, title_refs)
        if endpoint is None:
            continue
        earlier = first_seen.setdefault(endpoint.name, item_path)
        if earlier != item_path:
            # LibreChat keys custom endpoints by name: the later one replaces the earlier.
            c.warn(
                (*item_path, "name"),
                f"{endpoint.name!r} is also the name of {format_path(earlier)}; "
                "this later one is used, as in LibreChat",
            )
        endpoints[endpoint.name] = endpoint
    # "all" holds LibreChat settings shared by every endpoint; billing ignores it.
    c.unknown_keys(block, (*BUILTIN_ENDPOINTS, "custom", "all"), path)

    custom_names = {e.name for e in endpoints.values() if e.kind == "custom"}
    for ref_path, target in title_refs:
        if target not in TITLE_ENDPOINT_BUILTINS and target not in custom_names:
            # LibreChat accepts any name here and falls back when titling.
            allowed = ", ".join(TITLE_ENDPOINT_BUILTINS)
            c.warn(ref_path, f"unknown endpoint {target!r} (use {allowed} or a custom name)")
    return endpoints


def _read_custom(
    c: Checker, value: Any, path: Path, title_refs: list[tuple[Path, str]]
) -> EndpointConfig | None:
    """None when unusable: refused (an error) or, as LibreChat does, dropped (a warning)."""
    entry = c.mapping(value, path)
    if entry is None:
        return None
    errors = len(c.issues.errors)
    values = c.fields(entry, path, CUSTOM_FIELDS, hints=MISPLACED)
    if values.get("provider") == "anthropic" and values.get("models", {}).get("fetch"):
        c.warn((*path, "models", "fetch"), "not used with provider: anthropic")
    if len(c.issues.errors) > errors:
        return None
    for key in CUSTOM_REQUIRED:
        if key not in entry or entry[key] == "":
            state = "missing" if key not in entry else "empty"
            c.warn((*path, key), f"{state}: LibreChat skips this endpoint, so billing does too")
            return None
    name = values.pop("name")
    if name in RESERVED_NAMES:
        c.error((*path, "name"), f"{name!r} is a built-in endpoint name; choose another")
        return None
    return _build(c, name, "custom", values, path, title_refs)


def _read_builtin(
    c: Checker, name: str, value: Any, path: Path, title_refs: list[tuple[Path, str]]
) -> EndpointConfig:
    entry = {} if value is None else c.mapping(value, path)
    known = {k: v for k, v in (entry or {}).items() if k not in LIBRECHAT_BUILTIN_KEYS}
    values = c.fields(known, path, BUILTIN_FIELDS, hints=MISPLACED)
    return _build(c, name, "builtin", values, path, title_refs)


def _build(
    c: Checker,
    name: str,
    kind: Literal["custom", "builtin"],
    values: dict[str, Any],
    path: Path,
    title_refs: list[tuple[Path, str]],
) -> EndpointConfig:
    if "titleEndpoint" in values:
        title_refs.append(((*path, "titleEndpoint"), values["titleEndpoint"]))
    if values.get("freeOfCharge") and values.get("tokenConfig"):
        c.warn((*path, "tokenConfig"), "rates are not charged: the endpoint is freeOfCharge")
    models: Mapping[str, Any] = values.pop("models", {})
    return EndpointConfig(
        name=name,
        kind=kind,
        provider=values.pop("provider", None),
        api_key=values.pop("apiKey", None),
        base_url=values.pop("baseURL", None),
        models=models.get("default", ()),
        fetch_models=models.get("fetch", False),
        user_id_query=models.get("userIdQuery", False),
        headers=MappingProxyType(values.pop("headers", {})),
        token_config=MappingProxyType(values.pop("tokenConfig", {})),
        free_of_charge=values.pop("freeOfCharge", False),
        icon_url=values.pop("iconURL", None),
        model_display_label=values.pop("modelDisplayLabel", None),
        extra=MappingProxyType(values),
    )
