"""Schemathesis against the OpenAPI schema of a live hub (`enigma-apex up` as a process, paper broker
included): every operation, with and without a token: no 5xx, and every status code and content type the hub
answers is documented in the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from tests.integration.hubproc import HubProcess, init_dir

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def live_hub(tmp_path_factory):
    folder = tmp_path_factory.mktemp("live-hub")
    config, tokens = init_dir(folder)
    hub = HubProcess(config)
    try:
        yield hub, tokens
    finally:
        hub.stop()


def _exercise(hub, headers):
    schema = schemathesis.openapi.from_url(hub.base + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    failures = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case):
            case.call_and_validate(base_url=hub.base, headers=headers, checks=CHECKS)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every failure, then report them
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)


def test_every_operation_without_a_token_answers_without_5xx_and_only_documented_codes(live_hub):
    hub, _tokens = live_hub
    _exercise(hub, {})


def test_every_operation_with_an_admin_token_answers_without_5xx_and_only_documented_codes(live_hub):
    hub, tokens = live_hub
    _exercise(hub, {"Authorization": f"Bearer {tokens['local-admin']}"})
