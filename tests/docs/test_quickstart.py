"""The README's quick start is true: its requests, replayed against a fresh
`billing serve` with the shipped example config, get exactly its answers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from billing.config.loader import load_config_file
from tests.conftest import LiveServer
from tests.docs.readme import (
    EXAMPLE_CONFIG,
    README,
    VARYING_KEYS,
    fresh_service_answers,
    quickstart_steps,
    readable,
    without_varying,
)

# The flows the quick start must show: a piece of the request of each.
FLOWS = {
    "usage event": "/v1/usage -H",
    "batch": """/v1/usage -H 'content-type: application/json' -d '{"events": [""",
    "balance": "/v1/balances/alice\n",
    "pre-flight check": "/v1/balances/alice/check -H",
    "reservation": "/v1/reservations -H",
    "settlement": """"reservation_id": "'""",
    "costs": "/v1/costs?",
    "conversation cost": "/v1/conversations/conv-1/cost",
}


def test_quickstart_covers_every_main_flow() -> None:
    scripts = "\n".join(step.script for step in quickstart_steps(README.read_text("utf-8")))
    missing = [flow for flow, request in FLOWS.items() if request not in scripts]
    assert not missing, f"the README quick start shows no {missing}"


def test_example_config_is_valid_with_balances_on() -> None:
    config = load_config_file(EXAMPLE_CONFIG)
    assert config.warnings == ()
    assert config.balance.enabled
    assert config.balance.start_balance > 0


@pytest.mark.skipif(shutil.which("curl") is None, reason="the quick start uses curl")
def test_quickstart_answers_are_the_real_ones(tmp_path: Path, live_server: LiveServer) -> None:
    steps = quickstart_steps(README.read_text(encoding="utf-8"))
    answers = fresh_service_answers(steps, tmp_path, live_server)
    for step, answer in zip(steps, answers, strict=True):
        assert without_varying(answer) == without_varying(step.answer), (
            f"README quick start block\n{step.script}\nnow answers (paste it into the README, "
            f"or run `python -m tests.docs.readme`):\n{readable(answer)}"
        )
    # The varying fields are shown in the README, so they were really there.
    shown = {key for step in steps for key in _keys(step.answer)}
    assert {"reservation_id", "created_at", "expires_at", "occurred_at"} <= shown & VARYING_KEYS


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for item in value for k in _keys(item)}
    return set()
