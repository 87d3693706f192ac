"""Property-based fuzzing of every operation in /openapi.json (schemathesis 4.x).

Valid and invalid inputs generated from the document itself: no 500s, every
status documented, every body matching its documented schema (errors
included), on SQLite and PostgreSQL. Bounded: FUZZ_EXAMPLES examples per
operation and mode (override with BILLING_FUZZ_EXAMPLES for a longer soak).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import AppFactory
from tests.hardening.support import ALL_KEYS, WITH_SCOPE, bearer
from tests.helpers import CLAUDE_CONFIG

FUZZ_EXAMPLES = int(os.environ.get("BILLING_FUZZ_EXAMPLES", "15"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _fuzz_operation(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    checks = list(CHECKS)
    if mode == GenerationMode.NEGATIVE and operation.body:
        # Invalid bodies must be refused. (Unknown query parameters are ignored on
        # purpose, as HTTP APIs do, so the check is not applied to query-only routes.)
        checks.append(negative_data_rejection)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same inputs every run: a failure reproduces
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=checks)

    run()


def test_every_operation_survives_fuzzing(make_client: AppFactory) -> None:
    app = make_client(CLAUDE_CONFIG, api_keys=ALL_KEYS).app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = bearer(WITH_SCOPE["admin"])
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz_operation(operation, mode, headers)
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE  # no parameter to make invalid
            except BaseException as exc:  # schemathesis raises exception groups
                if isinstance(exc, KeyboardInterrupt):
                    raise
                failures.append(f"{operation.label} [{mode.value}]: {exc}"[:3000])
    assert operations >= 15
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)
