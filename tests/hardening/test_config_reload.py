"""Hostile and broken config files: refused on reload with clear problems, old config kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import AppFactory
from tests.hardening.support import ALL_KEYS, WITH_SCOPE, assert_refused, bearer
from tests.helpers import CLAUDE_CONFIG

BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
RECURSIVE_ALIAS = "endpoints: &loop\n  custom: [*loop]\n"

# (case, file content, a phrase the problems must contain)
HOSTILE_FILES = [
    ("alias bomb", BILLION_LAUGHS, "alias"),
    ("recursive alias", RECURSIVE_ALIAS, "alias"),
    (
        "wrong type",
        CLAUDE_CONFIG.replace("startBalance: 100000", "startBalance: lots"),
        "balance.startBalance",
    ),
    ("negative rate", CLAUDE_CONFIG.replace("prompt: 3", "prompt: -3"), "prompt"),
    ("duplicate key", CLAUDE_CONFIG + "balance:\n  enabled: false\n", "duplicate"),
    ("not a mapping", "- just\n- a list\n", "mapping"),
    ("not YAML", "endpoints: [unclosed\n", "line"),
    ("binary", "\x00\x01\x02", ""),
    ("huge", "# " + "x" * (5 * 1024 * 1024 + 10) + "\n", "5 MB"),
]
QUOTE = {"endpoint": "Claude-Compatible", "model": "claude-sonnet-4-5", "tokens": {"prompt": 1000}}


def test_hostile_files_are_refused_and_the_old_config_stays(
    make_client: AppFactory, write_config: Callable[[str], Path]
) -> None:
    path = write_config(CLAUDE_CONFIG)
    client = make_client(config=path, api_keys=ALL_KEYS)
    admin, ingest = bearer(WITH_SCOPE["admin"]), bearer(WITH_SCOPE["ingest"])
    before = client.post("/v1/quote", json=QUOTE, headers=ingest).json()
    assert before["total_credits"] == "3000"
    for name, content, phrase in HOSTILE_FILES:
        path.write_text(content, encoding="utf-8")
        response = client.post("/v1/admin/reload", headers=admin)
        body = assert_refused(response, 422, "invalid_request", "old config stays", case=name)
        problems = body["problems"]
        assert problems and all(isinstance(p, str) for p in problems), (name, body)
        assert any(phrase in p for p in problems), (name, problems)
        after = client.post("/v1/quote", json=QUOTE, headers=ingest)
        assert after.json() == before, name
    path.unlink()
    gone = client.post("/v1/admin/reload", headers=admin)
    assert_refused(gone, 422, "invalid_request", "cannot read", case="deleted file")
    assert client.post("/v1/quote", json=QUOTE, headers=ingest).json() == before
    path.write_text(CLAUDE_CONFIG.replace("prompt: 3", "prompt: 4"), encoding="utf-8")
    assert client.post("/v1/admin/reload", headers=admin).status_code == 200
    assert client.post("/v1/quote", json=QUOTE, headers=ingest).json()["total_credits"] == "4000"


def test_unset_variable_reloads_with_a_warning(
    make_client: AppFactory, write_config: Callable[[str], Path]
) -> None:
    # LibreChat runs with an unset ${VAR} (the endpoint fails only when used): so does billing.
    path = write_config(CLAUDE_CONFIG)
    client = make_client(config=path, api_keys=ALL_KEYS)
    admin, ingest = bearer(WITH_SCOPE["admin"]), bearer(WITH_SCOPE["ingest"])
    path.write_text(
        CLAUDE_CONFIG.replace("apiKey: test-key", "apiKey: ${HARDENING_UNSET_VAR}"),
        encoding="utf-8",
    )
    response = client.post("/v1/admin/reload", headers=admin)
    assert response.status_code == 200, response.text
    assert any("HARDENING_UNSET_VAR is not set" in w for w in response.json()["warnings"])
    quoted = client.post("/v1/quote", json=QUOTE, headers=ingest).json()
    assert quoted["total_credits"] == "3000"
