"""Schemathesis fuzzes the patron API from its OpenAPI document, on SQLite and PostgreSQL.

Checks: no 5xx, and every answer matches the document (status code, content type, headers, body
schema). Every operation gets positive and negative examples; then a state machine follows the
document's links (start a conversation, use its id and token, upload and download a file).
Bounded (`max_examples`, `deadline=None`) so both databases together stay well under two minutes.
Failures are collected, not raised one by one, so a run reports all of them with their counts.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from web import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 12  # per operation and generation mode
SCENARIOS = settings(
    max_examples=20, stateful_step_count=8, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


class Findings:
    """What one run saw: cases per operation, and each failure with the request that caused it."""

    def __init__(self) -> None:
        self.cases: Counter[str] = Counter()
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.server_errors = 0
        self.failures: list[str] = []

    def validate(self, case, response) -> None:
        self.cases[case.operation.label] += 1
        self.statuses[case.operation.label, response.status_code] += 1
        self.server_errors += response.status_code >= 500
        try:
            case.validate_response(response, checks=CHECKS)
        except (Failure, FailureGroup) as exc:
            self.failures.append(f"{case.operation.label} -> {response.status_code}: {exc}\n{case.as_curl_command()}")


@pytest.fixture
def api(container):
    """The live app's own document, told which queue exists so that new conversations can succeed."""
    # No cap on waiting chats (it has its own tests): with it, the 31st new chat of a run is refused, so the same
    # drawn steps would lead elsewhere than when they were first drawn and Hypothesis stops the run as flaky.
    container.desk.waiting_cap = 0
    app = create_app(container, config={"RATELIMIT_ENABLED": False})
    document = app.test_client().get("/api/v1/openapi.json").json
    document["components"]["schemas"]["NewConversation"]["properties"]["queue"]["enum"] = ["general"]
    schema = schemathesis.openapi.from_dict(document)
    schema.app = app
    return schema


def fuzz_each_operation(schema, findings: Findings) -> None:
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def one(case) -> None:
                findings.validate(case, case.call())

            try:
                one()
            except Exception as exc:  # noqa: BLE001 - Hypothesis found no valid negative case; nothing to send
                if type(exc).__name__ != "Unsatisfiable":
                    raise


def follow_links(schema, findings: Findings) -> None:
    """Stateful: the event stream is left out (with a valid token it streams until the chat closes)."""
    base = schema.exclude(operation_id="events").as_state_machine()

    class Scenario(base):  # type: ignore[valid-type,misc]
        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            findings.validate(case, response)

    Scenario.run(settings=SCENARIOS)


def test_the_api_matches_its_document_and_never_answers_5xx(api):
    findings = Findings()
    fuzz_each_operation(api, findings)
    follow_links(api, findings)
    print(
        f"schemathesis: {sum(findings.cases.values())} cases, {findings.server_errors} 5xx",
        sorted(findings.statuses.items()),
    )
    assert findings.failures == [], f"{len(findings.failures)} failing cases:\n\n" + "\n\n".join(findings.failures[:20])
