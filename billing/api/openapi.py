"""OpenAPI helpers for bodies FastAPI cannot describe on its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter


def inline_schema(adapter: TypeAdapter[Any]) -> dict[str, Any]:
    """The adapter's JSON schema with every ``$ref`` to its ``$defs`` inlined.

    For ``openapi_extra`` request bodies: local ``#/$defs/...`` references would
    not resolve inside the OpenAPI document, inlined copies always do.
    """
    schema = adapter.json_schema()
    definitions: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any, seen: tuple[str, ...] = ()) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name in seen:
                    raise ValueError(f"recursive schema {name} cannot be inlined")
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return {**resolve(definitions[name], (*seen, name)), **resolve(rest, seen)}
            return {k: resolve(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(item, seen) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def json_request_body(
    schema: dict[str, Any], description: str = "", examples: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``openapi_extra`` documenting a required JSON request body (and its examples)."""
    media: dict[str, Any] = {"schema": schema}
    if examples:
        media["examples"] = dict(examples)
    body: dict[str, Any] = {"required": True, "content": {"application/json": media}}
    if description:
        body["description"] = description
    return {"requestBody": body}
