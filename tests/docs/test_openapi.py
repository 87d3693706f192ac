"""/openapi.json documents every input, and /docs and /redoc work offline.

Every request body has examples and each one works: posted to a fresh
service (with the shipped example config, and with no config) it gets a 2xx.
Every parameter has a description.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AppFactory
from tests.docs.readme import EXAMPLE_CONFIG

METHODS = ("get", "post", "put", "patch", "delete")


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _example_url(path: str, operation: dict[str, Any]) -> str:
    """The path with each path parameter filled from its documented example."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            examples = parameter.get("schema", {}).get("examples") or [parameter.get("example")]
            assert examples[0], f"path parameter {parameter['name']} of {path} has no example"
            path = path.replace("{" + parameter["name"] + "}", str(examples[0]))
    return path


def _body_examples(client: TestClient) -> list[tuple[str, str, str, Any]]:
    found = []
    for method, path, operation in _operations(client.get("/openapi.json").json()):
        body = operation.get("requestBody")
        if body is None:
            continue
        media = body["content"]["application/json"]
        examples = media.get("examples", {})
        assert examples, f"{method.upper()} {path}: the request body has no example"
        for name, example in examples.items():
            found.append((method, _example_url(path, operation), name, example["value"]))
    return found


@pytest.mark.parametrize("config", ["example", "none"])
def test_every_request_body_example_works(make_client: AppFactory, config: str) -> None:
    yaml_text = EXAMPLE_CONFIG.read_text(encoding="utf-8") if config == "example" else None
    client = make_client(yaml_text)
    examples = _body_examples(client)
    assert len(examples) >= 6
    for method, url, name, value in examples:
        answer = client.request(method, url, json=value)
        assert 200 <= answer.status_code < 300, (method, url, name, answer.text)


def test_every_parameter_has_a_description(client: TestClient) -> None:
    undescribed = [
        f"{method.upper()} {path} {parameter['in']} {parameter['name']}"
        for method, path, operation in _operations(client.get("/openapi.json").json())
        for parameter in operation.get("parameters", [])
        if not parameter.get("description", "").strip()
    ]
    assert not undescribed


_ASSET = re.compile(r"""(?:href|src|spec-url)=["']([^"']+)["']|url: *'([^']+)'""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_everything_from_the_service(client: TestClient, page: str) -> None:
    html = client.get(page)
    assert html.status_code == 200
    assert "http://" not in html.text and "https://" not in html.text, html.text
    urls = [a or b for a, b in _ASSET.findall(html.text)]
    scripts = [url for url in urls if url.endswith(".js")]
    assert scripts, html.text  # Swagger UI / ReDoc themselves
    assert "/openapi.json" in urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    for script in scripts:
        assert "javascript" in client.get(script).headers["content-type"], script
