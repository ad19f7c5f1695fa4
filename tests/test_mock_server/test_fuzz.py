"""Schema-driven fuzzing of every operation in /openapi.json against a live mock: never a 5xx.

schemathesis generates valid and invalid requests from the document the server itself serves;
each response must not be a server error, must use a documented status and content type, and
must match the documented schema. Runs are deterministic (hypothesis ``derandomize``) and
bounded (``MAX_EXAMPLES`` per operation). The API slice is fuzzed with a real token on one
server; the authorization server and the control plane on another, since control calls such
as ``/_mock/reset`` would revoke that token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mock_server import MockConfig, MockServer

OOB = "urn:ietf:wg:oauth:2.0:oob"
MAX_EXAMPLES = 20
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _document(mock: MockServer) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{mock.url}/openapi.json").json()
    return document


def _only(document: dict[str, Any], *, api: bool) -> dict[str, Any]:
    paths = {path: item for path, item in document["paths"].items() if path.startswith("/1.0") == api}
    return {**document, "paths": paths}


@pytest.fixture(scope="module")
def api_mock() -> Iterator[MockServer]:
    # Rate limiting off: the fuzzer would otherwise spend most of its budget on 403s.
    with MockServer(MockConfig(rate_limit_enabled=False)) as mock:
        yield mock


@pytest.fixture(scope="module")
def other_mock() -> Iterator[MockServer]:
    with MockServer(MockConfig(rate_limit_enabled=False)) as mock:
        yield mock


@pytest.fixture(scope="module")
def api_token(api_mock: MockServer) -> str:
    params = {
        "response_type": "code",
        "client_id": "demo-confidential",
        "redirect_uri": OOB,
        "scope": " ".join(
            [
                *("account.read", "list.read", "list.write", "subscriber.read", "subscriber.write"),
                *("email.read", "email.write", "landing-page.read"),
            ]
        ),
    }
    code = api_mock.approve(params, username="demo")["code"]
    response = httpx.post(
        api_mock.token_url,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": OOB},
        auth=("demo-confidential", "demo-secret"),
    )
    assert response.status_code == 200, response.text
    # Long enough for the run whatever the wall clock does; the fuzzer never moves this clock.
    api_mock.set_clock(frozen=True)
    return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def api_schema(api_mock: MockServer) -> Any:
    return schemathesis.openapi.from_dict(_only(_document(api_mock), api=True))


@pytest.fixture(scope="module")
def other_schema(other_mock: MockServer) -> Any:
    return schemathesis.openapi.from_dict(_only(_document(other_mock), api=False))


def fuzz(schema: Any, call: Callable[[Any], Any]) -> tuple[list[str], int]:
    """Run every operation in every mode; returns the failures (one line each) and the count."""
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        demo_ids = {
            param["name"]: param["example"]
            for param in operation.definition.raw.get("parameters", [])
            if param.get("in") == "path" and "example" in param
        }
        strategies = {
            "positive": operation.as_strategy(GenerationMode.POSITIVE),
            "negative": operation.as_strategy(GenerationMode.NEGATIVE),
        }
        if demo_ids:  # random ids are nearly always unknown; the demo ids reach the handlers' depths
            strategies["positive, demo ids"] = operation.as_strategy(
                GenerationMode.POSITIVE, path_parameters=demo_ids
            )
        for mode, strategy in strategies.items():

            @FUZZ_SETTINGS
            @given(case=strategy)
            def run(case: Any) -> None:
                call(case)

            try:
                run()
            except Unsatisfiable:
                continue  # nothing to make invalid (no parameters, no body): the positive run covers it
            except (Exception, BaseExceptionGroup) as exc:  # every operation is tried; all are reported
                failures.append(f"{operation.label} ({mode}): {type(exc).__name__}: {str(exc)[:600]}")
    return failures, len(operations)


def test_api_slice_never_answers_5xx(api_mock: MockServer, api_token: str, api_schema: Any) -> None:
    def call(case: Any) -> None:
        response = case.call(
            base_url=api_mock.url, headers={"Authorization": f"Bearer {api_token}"}, timeout=10
        )
        case.validate_response(response, checks=CHECKS)
        api_mock.check_errors()

    failures, count = fuzz(api_schema, call)
    assert count == 45  # every (path, method) of the route table's API
    assert failures == [], "\n".join(failures)


def test_auth_server_and_control_plane_never_answer_5xx(other_mock: MockServer, other_schema: Any) -> None:
    def call(case: Any) -> None:
        response = case.call(base_url=other_mock.url, timeout=10)
        # Armed faults would make later calls fail on purpose; disarm them before anything else runs.
        other_mock.clear_faults()
        case.validate_response(response, checks=CHECKS)
        other_mock.check_errors()

    failures, count = fuzz(other_schema, call)
    assert count >= 17
    assert failures == [], "\n".join(failures)


def test_constant_contact_paths_never_answer_5xx() -> None:
    with MockServer(MockConfig(profile="constantcontact")) as mock:
        document = _document(mock)
        only_cc = {
            path: item
            for path, item in document["paths"].items()
            if path.startswith(("/v3", "/oauth2/default"))
        }
        schema = schemathesis.openapi.from_dict({**document, "paths": only_cc})
        params = {
            "response_type": "code",
            "client_id": "demo-confidential",
            "redirect_uri": OOB,
            "scope": "account_read",
        }
        code = mock.approve(params, username="demo")["code"]
        token = httpx.post(
            f"{mock.url}/oauth2/default/v1/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": OOB},
            auth=("demo-confidential", "demo-secret"),
        ).json()["access_token"]

        def call(case: Any) -> None:
            response = case.call(base_url=mock.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            case.validate_response(response, checks=CHECKS)
            mock.check_errors()

        failures, count = fuzz(schema, call)
    assert count == 5
    assert failures == [], "\n".join(failures)


def test_the_harness_reports_a_server_error(api_mock: MockServer, api_token: str) -> None:
    document = _document(api_mock)
    one = {**document, "paths": {"/1.0/accounts": document["paths"]["/1.0/accounts"]}}
    api_mock.add_fault("/1.0/accounts", count=10_000, status=503)

    def call(case: Any) -> None:
        response = case.call(
            base_url=api_mock.url, headers={"Authorization": f"Bearer {api_token}"}, timeout=10
        )
        case.validate_response(response, checks=CHECKS)

    try:
        failures, _ = fuzz(schemathesis.openapi.from_dict(one), call)
    finally:
        api_mock.clear_faults()
    assert failures
    assert all("503" in failure or "Server error" in failure for failure in failures)


def test_the_fuzzed_operations_cover_the_whole_document(api_mock: MockServer) -> None:
    document = _document(api_mock)
    api_paths = set(_only(document, api=True)["paths"])
    other_paths = set(_only(document, api=False)["paths"])
    assert api_paths | other_paths == set(document["paths"])
    assert api_paths
    assert other_paths
