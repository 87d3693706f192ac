"""Field rules of LibreChat's custom endpoint object (every key is listed in the
README, "The config file"), plus the billing extension
``freeOfCharge``; built-in endpoint blocks share most of them.

Billing refuses only what LibreChat's own schema refuses (wrong types, bad
values of keys it checks); where LibreChat accepts a value, billing accepts it
too and at most warns.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billing.config.env import Unresolved
from billing.config.issues import Path
from billing.config.model import ModelRates
from billing.config.values import MAX_CONTEXT, Checker, Reader, describe, lenient


def _string(c: Checker, value: Any, path: Path) -> str | None:
    return c.string(value, path)


def _boolean(c: Checker, value: Any, path: Path) -> bool | None:
    return c.boolean(value, path)


def _choice(*options: str) -> Reader:
    return lambda c, value, path: c.choice(value, path, options)


def _containing(*placeholders: str) -> Reader:
    def read(c: Checker, value: Any, path: Path) -> str | None:
        text = c.string(value, path)
        missing = [p for p in placeholders if text is not None and p not in text]
        if missing:  # LibreChat accepts any string here
            c.warn(path, f"does not contain {' and '.join(missing)}")
        return text

    return read


def _js_number(c: Checker, value: Any, path: Path) -> Any:
    """Any number (LibreChat's z.number()): settings billing only passes along."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        c.error(path, f"must be a number, got {describe(value)}")
        return None
    return value


def _model_item(c: Checker, value: Any, path: Path) -> str | None:
    """A model name, or ``{name, description}`` as LibreChat allows."""
    if isinstance(value, dict):
        if "name" not in value:
            c.error((*path, "name"), "required")
            return None
        item = c.fields(value, path, {"name": _string, "description": _string})
        value = item.get("name")
        if value is None:
            return None
    elif not isinstance(value, str):
        c.error(path, f"must be a model name or {{name, description}}, got {describe(value)}")
        return None
    name = c.resolve(value, path)
    if not name.strip():
        c.warn(path, "empty model name (ignored)")
        return None
    return name


def _model_names(c: Checker, value: Any, path: Path) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        c.error(path, f"must be a list of models, got {describe(value)}")
        return None
    if not value:
        c.error(path, "must not be empty")
        return None
    errors = len(c.issues.errors)
    names = [_model_item(c, item, (*path, i)) for i, item in enumerate(value)]
    if len(c.issues.errors) > errors:
        return None
    kept = [name for name in names if name is not None]
    for name in dict.fromkeys(n for n in kept if kept.count(n) > 1):
        c.warn(path, f"model {name!r} is listed more than once")
    return tuple(kept)


def _models_block(c: Checker, value: Any, path: Path) -> dict[str, Any] | None:
    block = c.mapping(value, path)
    if block is None:
        return None
    return c.fields(
        block, path, {"default": _model_names, "fetch": _boolean, "userIdQuery": _boolean}
    )


def _custom_models(c: Checker, value: Any, path: Path) -> dict[str, Any] | None:
    if isinstance(value, dict) and "default" not in value:
        c.error((*path, "default"), "required")
    return _models_block(c, value, path)


def _builtin_models(c: Checker, value: Any, path: Path) -> dict[str, Any] | None:
    """``models`` of a built-in endpoint: a list (as for anthropic) or ``{default, ...}``."""
    if isinstance(value, list):
        names = _model_names(c, value, path)
        return None if names is None else {"default": names}
    return _models_block(c, value, path)


def _token_config(c: Checker, value: Any, path: Path) -> dict[str, ModelRates] | None:
    block = c.mapping(value, path)
    if block is None:
        return None
    result: dict[str, ModelRates] = {}
    for key, entry in block.items():
        entry_path = (*path, str(key))
        if isinstance(key, bool | int | Decimal):  # a JavaScript object key is text
            c.warn(entry_path, f"model name read as the text {_as_text(key)!r}")
            key = _as_text(key)
        if not isinstance(key, str):
            c.error(entry_path, "model name must be a string")
            continue
        model = key
        if not model.strip():
            c.warn(entry_path, "empty model name (ignored)")
            continue
        rates = _model_rates(c, entry, entry_path)
        if rates is not None:
            result[model] = rates
    return result


def _rate(c: Checker, value: Any, path: Path) -> Any:
    return c.number(value, path)


def _context(c: Checker, value: Any, path: Path) -> int | None:
    """Tokens; used only to show the context window, so an odd value is a warning."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        c.error(path, f"must be a number, got {describe(value)}")
        return None
    if (isinstance(value, Decimal) and value.is_nan()) or not (1 <= value <= MAX_CONTEXT):
        c.warn(path, f"is not between 1 and {MAX_CONTEXT} tokens (ignored)")
        return 0  # read, but no context window is known
    if value != int(value):
        c.warn(path, f"is not a whole number of tokens; {int(value)} is used")
    return int(value)


_RATE_FIELDS: dict[str, Reader] = {
    "prompt": _rate,
    "completion": _rate,
    "context": _context,
    "cacheRead": _rate,
    "cacheWrite": _rate,
    "cacheWrite1h": _rate,  # this service's addition: Anthropic's 1-hour cache write rate
}


def _model_rates(c: Checker, value: Any, path: Path) -> ModelRates | None:
    entry = c.mapping(value, path)
    if entry is None:
        return None
    for key in ("prompt", "completion", "context"):
        if key not in entry:
            c.error((*path, key), "required")
    read = c.fields(entry, path, _RATE_FIELDS)
    if any(key in _RATE_FIELDS and key not in read for key in entry):
        return None  # an invalid rate, already reported
    if not {"prompt", "completion", "context"} <= read.keys():
        return None
    return ModelRates(
        prompt=read["prompt"],
        completion=read["completion"],
        context=read["context"] or None,
        cache_read=read.get("cacheRead"),
        cache_write=read.get("cacheWrite"),
        cache_write_1h=read.get("cacheWrite1h"),
    )


def _headers(c: Checker, value: Any, path: Path) -> dict[str, str | Unresolved] | None:
    block = c.mapping(value, path)
    if block is None:
        return None
    result: dict[str, str | Unresolved] = {}
    for key, raw in block.items():
        name = _as_text(key) if isinstance(key, bool | int | Decimal) else key
        if not isinstance(name, str):
            c.error((*path, str(name)), "header name must be a string")
            continue
        if isinstance(raw, bool | int | Decimal):  # LibreChat sends these as text
            c.warn((*path, name), f"is {describe(raw)}, sent as the text {_as_text(raw)!r}")
            raw = _as_text(raw)
        if not isinstance(raw, str):  # LibreChat accepts any value here
            c.warn((*path, name), f"must be a string, got {describe(raw)}; ignored")
            continue
        text = c.credential(raw, (*path, name))
        if text is not None:
            result[name] = text
    return result


def _as_text(value: bool | int | Decimal) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _free_mapping(c: Checker, value: Any, path: Path) -> dict[str, Any] | None:
    block = c.mapping(value, path)
    return None if block is None else c.free(block, path)


def _param_definitions(c: Checker, value: Any, path: Path) -> list[Any] | None:
    if not isinstance(value, list):
        c.error(path, "must be a list")
        return None
    for i, item in enumerate(value):
        c.mapping(item, (*path, i))
    return c.free(value, path)


def _custom_params(c: Checker, value: Any, path: Path) -> dict[str, Any] | None:
    block = c.mapping(value, path)
    if block is None:
        return None
    return c.fields(
        block,
        path,
        {
            "defaultParamsEndpoint": _string,
            "reasoningFormat": _choice("reasoning_effort", "reasoning_object", "disabled"),
            "reasoningKey": _choice("reasoning", "reasoning_content"),
            "paramDefinitions": _param_definitions,
        },
    )


def _credential(c: Checker, value: Any, path: Path) -> str | Unresolved | None:
    return c.credential(value, path)


# Keys a built-in endpoint block may carry, with the custom endpoint's rules.
_COMMON_FIELDS: dict[str, Reader] = {
    "iconURL": _string,
    "titleConvo": _boolean,
    "titleTiming": lenient(_choice("immediate", "final")),
    "titleMethod": _choice("completion", "structured", "functions"),
    "titleModel": _string,
    "titlePrompt": _containing("{convo}"),
    "titlePromptTemplate": _containing("{input}", "{output}"),
    "titleEndpoint": _string,  # cross-checked once all names are known
    "titleMessageRole": lenient(_choice("system", "user", "assistant")),
    "modelDisplayLabel": _string,
    "addParams": _free_mapping,
    "dropParams": lambda c, v, p: c.string_list(v, p),
    "customParams": _custom_params,
    "headers": _headers,
    "directEndpoint": _boolean,
    "streamRate": _js_number,
    "summarize": _boolean,
    "summaryModel": _string,
    "forcePrompt": _boolean,
    "customOrder": _js_number,
}
# Billing's own keys: it uses their values, so they are checked strictly.
_BILLING_FIELDS: dict[str, Reader] = {
    "tokenConfig": _token_config,
    "freeOfCharge": _boolean,  # a zero-cost endpoint
}
# What LibreChat's schema checks on every built-in endpoint (baseEndpointSchema);
# the rest it drops unchecked, so billing only warns about a bad value there.
_BUILTIN_CHECKED = frozenset(
    {"streamRate", "titlePrompt", "titleModel", "titleConvo", "titleMethod", "titleEndpoint",
     "titlePromptTemplate"}
)  # fmt: skip
BUILTIN_FIELDS: dict[str, Reader] = {
    **{k: r if k in _BUILTIN_CHECKED else lenient(r) for k, r in _COMMON_FIELDS.items()},
    **_BILLING_FIELDS,
    "models": lenient(_builtin_models),
}
CUSTOM_FIELDS: dict[str, Reader] = {
    "name": _string,
    "apiKey": _credential,  # a key, ${VAR} or "user_provided"
    "baseURL": _credential,  # a URL, ${VAR} or "user_provided"
    "provider": _choice("anthropic"),
    **_COMMON_FIELDS,
    **_BILLING_FIELDS,
    "models": _custom_models,
}
# LibreChat drops a custom endpoint that lacks one of these (or has it empty).
CUSTOM_REQUIRED = ("name", "apiKey", "baseURL", "models")
# Keys that belong under `models:`, easy to put one level too high.
MISPLACED = {key: f"models.{key}" for key in ("default", "fetch", "userIdQuery")}
