"""Field rules of LibreChat's custom endpoint object (every key is listed in the
README, "The config file"), plus the billing extension
``freeOfCharge``; built-in endpoint blocks share most of them.
"""

from __future__ import annotations

from typing import Any

from billing.config.issues import Path
from billing.config.model import ModelRates
from billing.config.values import MAX_CONTEXT, Checker, Reader


def _string(c: Checker, value: Any, path: Path) -> str | None:
    return c.string(value, path)


def _non_empty_string(c: Checker, value: Any, path: Path) -> str | None:
    return c.string(value, path, non_empty=True)


def _boolean(c: Checker, value: Any, path: Path) -> bool | None:
    return c.boolean(value, path)


def _choice(*options: str) -> Reader:
    return lambda c, value, path: c.choice(value, path, options)


def _containing(*placeholders: str) -> Reader:
    def read(c: Checker, value: Any, path: Path) -> str | None:
        text = c.string(value, path)
        if text is None:
            return None
        missing = [p for p in placeholders if p not in text]
        if missing:
            c.error(path, f"must contain {' and '.join(missing)}")
            return None
        return text

    return read


def _models(*, default_required: bool) -> Reader:
    def read(c: Checker, value: Any, path: Path) -> dict[str, Any] | None:
        block = c.mapping(value, path)
        if block is None:
            return None
        if default_required and "default" not in block:
            c.error((*path, "default"), "required")
        models = c.fields(
            block,
            path,
            {
                "default": lambda c, v, p: c.string_list(v, p, non_empty=True),
                "fetch": _boolean,
                "userIdQuery": _boolean,
            },
        )
        listed = models.get("default", ())
        for name in dict.fromkeys(n for n in listed if listed.count(n) > 1):
            c.warn((*path, "default"), f"model {name!r} is listed more than once")
        return models

    return read


def _token_config(c: Checker, value: Any, path: Path) -> dict[str, ModelRates] | None:
    block = c.mapping(value, path)
    if block is None:
        return None
    result: dict[str, ModelRates] = {}
    for model, entry in block.items():
        entry_path = (*path, str(model))
        if not isinstance(model, str) or not model.strip():
            c.error(entry_path, "model name must be a non-empty string")
            continue
        rates = _model_rates(c, entry, entry_path)
        if rates is not None:
            result[model] = rates
    return result


def _rate(c: Checker, value: Any, path: Path) -> Any:
    return c.number(value, path)


_RATE_FIELDS: dict[str, Reader] = {
    "prompt": _rate,
    "completion": _rate,
    "context": lambda c, v, p: c.integer(v, p, maximum=MAX_CONTEXT),
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
        context=read["context"],
        cache_read=read.get("cacheRead"),
        cache_write=read.get("cacheWrite"),
        cache_write_1h=read.get("cacheWrite1h"),
    )


def _headers(c: Checker, value: Any, path: Path) -> dict[str, str] | None:
    block = c.mapping(value, path)
    if block is None:
        return None
    result: dict[str, str] = {}
    for name, raw in block.items():
        if not isinstance(name, str):
            c.error((*path, str(name)), "header name must be a string")
            continue
        text = c.string(raw, (*path, name))
        if text is not None:
            result[name] = text
    return result


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


# Keys a built-in endpoint block may carry, with the custom endpoint's rules.
_COMMON_FIELDS: dict[str, Reader] = {
    "iconURL": _string,
    "titleConvo": _boolean,
    "titleTiming": _choice("immediate", "final"),
    "titleMethod": _choice("completion", "structured", "functions"),
    "titleModel": _string,
    "titlePrompt": _containing("{convo}"),
    "titlePromptTemplate": _containing("{input}", "{output}"),
    "titleEndpoint": _non_empty_string,  # cross-checked once all names are known
    "titleMessageRole": _choice("system", "user", "assistant"),
    "modelDisplayLabel": _string,
    "addParams": _free_mapping,
    "dropParams": lambda c, v, p: c.string_list(v, p),
    "customParams": _custom_params,
    "tokenConfig": _token_config,
    "headers": _headers,
    "directEndpoint": _boolean,
    "freeOfCharge": _boolean,  # billing extension: a zero-cost endpoint
}
BUILTIN_FIELDS: dict[str, Reader] = {
    **_COMMON_FIELDS,
    "models": _models(default_required=False),
}
CUSTOM_FIELDS: dict[str, Reader] = {
    "name": _non_empty_string,
    "apiKey": _non_empty_string,  # a key, ${VAR} or "user_provided"
    "baseURL": _non_empty_string,  # a URL, ${VAR} or "user_provided"
    "provider": _choice("anthropic"),
    **_COMMON_FIELDS,
    "models": _models(default_required=True),
}
CUSTOM_REQUIRED = ("name", "apiKey", "baseURL", "models")
# Keys that belong under `models:`, easy to put one level too high.
MISPLACED = {key: f"models.{key}" for key in ("default", "fetch", "userIdQuery")}
