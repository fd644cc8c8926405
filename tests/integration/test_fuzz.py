"""Property-based fuzzing of every operation in the OpenAPI document (schemathesis), against
``survey-service serve`` as a real process: no server error, and every status code and
content type the service answers with is documented."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    status_code_conformance,
)

from tests.helpers import FORMS, TEST_KEY, start_service

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fuzzed(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A served instance on the test database and an admin key: (base URL, key)."""
    env = {
        "DATABASE_URL": database_url,
        "SURVEY_SECRET_KEY": TEST_KEY,
        "SURVEY_FORMS_DIR": str(FORMS),
        "SURVEY_DATA_DIR": str(tmp_path_factory.mktemp("fuzz")),
        "SURVEY_SUBMIT_LIMIT_PER_IP": "100000",
        "SURVEY_ROLLUP_INTERVAL_SECONDS": "3600",  # the rollup tests fold by themselves
    }
    command = [sys.executable, "-m", "survey_service", "apikey", "create", "--name", "fuzz"]
    created = subprocess.run(
        [*command, "--scope", "admin"],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    key = created.stdout.strip().splitlines()[-1]
    process, base = start_service(env, tmp_path_factory.mktemp("fuzz-log") / "server.log")
    yield base, key
    process.terminate()
    process.wait(timeout=20)


def test_no_operation_errs_or_answers_undocumented(fuzzed: tuple[str, str]) -> None:
    base, key = fuzzed
    api = schemathesis.openapi.from_url(f"{base}/schema/openapi.json")
    checks = [not_a_server_error, status_code_conformance, content_type_conformance]
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) > 20  # every documented operation is fuzzed
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            derandomize=True,  # the same cases every run: a CI failure is a real regression
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            case.call_and_validate(
                base_url=base, headers={"Authorization": f"Bearer {key}"}, checks=checks
            )

        try:
            fuzz()
        except Exception as exc:
            failures[operation.label] = str(exc)[:2000]
    assert failures == {}
