"""Money inputs: a decimal string or a JSON number, both exact (never via a float)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from billing.balances.service import reconcile
from tests.conftest import AppFactory
from tests.helpers import CLAUDE_CONFIG

# 18 significant digits: a binary float keeps ~16, so a float parse would change it
# (float("123456789012.345678") is 123456789012.34567).
EXACT = "123456789012.345678"


def _post_raw(client: TestClient, method: str, path: str, raw: str) -> Any:
    return client.request(
        method, path, content=raw.encode(), headers={"content-type": "application/json"}
    )


def _reconciles(client: TestClient) -> bool:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        return reconcile(session) == []


def test_a_json_number_is_exact(make_client: AppFactory) -> None:
    client = make_client(CLAUDE_CONFIG)
    response = _post_raw(client, "PUT", "/v1/balances/u1", '{"credits": ' + EXACT + "}")
    assert response.status_code == 200, response.text
    assert response.json()["credits"] == EXACT
    grant = _post_raw(client, "POST", "/v1/balances/u1/credits", '{"amount": 0.000001}')
    assert grant.json()["credits"] == "123456789012.345679"
    assert _reconciles(client)


@pytest.mark.parametrize(
    ("number", "string", "credits"),
    [
        ("500", "500", "100500"),
        ("-500", "-500", "99500"),
        ("2.5", "2.5", "100002.5"),
        ("-0.25", "-0.25", "99999.75"),
        ("1E+2", "100", "100100"),
        ("1.5e1", "15", "100015"),
    ],
)
def test_grant_accepts_json_numbers_like_strings(
    make_client: AppFactory, number: str, string: str, credits: str
) -> None:
    client = make_client(CLAUDE_CONFIG)
    for user, body in (("u1", '{"amount": ' + number + "}"), ("u2", f'{{"amount": "{string}"}}')):
        client.put(f"/v1/balances/{user}", json={"credits": 100000})
        response = _post_raw(client, "POST", f"/v1/balances/{user}/credits", body)
        assert response.status_code == 200, response.text
        assert response.json()["credits"] == credits


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("1e400", "too many digits"),
        ("1e-400", "too many digits"),
        ("true", "must be"),
        ('"1e3"', "must be"),
        ('"12,5"', "must be"),
        ("[1]", "must be"),
    ],
)
def test_bad_amounts_are_refused_with_the_accepted_forms(
    make_client: AppFactory, raw: str, says: str
) -> None:
    client = make_client(CLAUDE_CONFIG)
    response = _post_raw(client, "POST", "/v1/balances/u1/credits", '{"amount": ' + raw + "}")
    assert response.status_code == 422, response.text
    field = response.json()["fields"][0]
    assert field["loc"] == "amount" and says in field["message"], field
    assert client.get("/v1/balances/u1").status_code == 404  # nothing written


def test_openapi_documents_both_forms(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    forms = schemas["GrantIn"]["properties"]["amount"]["anyOf"]
    assert {form["type"] for form in forms} == {"string", "number"}
    assert schemas["SetBalanceIn"]["properties"]["credits"]["anyOf"] == forms
