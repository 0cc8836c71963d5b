"""Schemathesis against the live schema of a real server (pytest-django's live server): every operation of
``/api/v1/schema``, fuzzed with an operator's key, must never answer 5xx, must answer only what the schema
declares (status, content type, body), and must refuse the request once the key is taken away or replaced
(``ignored_auth``); and every operation without a key answers 401 with ``WWW-Authenticate: Bearer``.

The run is bounded (a fixed number of examples per operation, derandomized so CI runs the same cases every
time). Path parameters naming the organization and catalog are pinned to the seeded demo's, and half the
cases name the demo's API and app, so the fuzzed requests reach the handlers and real objects rather than
only the "no such organization" refusal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import schemathesis
from django.conf import LazySettings
from django.core.cache import cache
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from portal.apikeys import api_keys
from portal.models import Organization
from portal.services import Actor, api_key_create
from tokens.demo import API_NAME, DemoSummary, demo_seed
from tokens.models import ConsumerApp
from tokens.runtime import gateway
from tokens.services import SANDBOX_TEST_APP

pytestmark = pytest.mark.slow

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
PINNED = {"org": "personal", "catalog": "sandbox"}


@pytest.fixture
def live_demo(transactional_db: None, settings: LazySettings, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoSummary]:
    """The demo, committed so the live server's thread sees it; no rate limit, so fuzzing is never a 429."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PORTAL_API_RATES = "operator=none,auditor=none,signer=none"
    settings.PORTAL_INVALIDATION = {**settings.PORTAL_INVALIDATION, "RECHECK_SECONDS": 0.0}
    api_keys.clear()
    cache.clear()
    gateway.reset()
    yield demo_seed(admin_password="x", actor=Actor(name="test"))
    gateway.reset()
    api_keys.clear()
    cache.clear()


@pytest.fixture
def operator_key(live_demo: DemoSummary) -> str:
    _, text = api_key_create(
        organization=Organization.objects.get(slug="personal"), name="fuzzer", role="operator", actor=Actor(name="test")
    )
    return text


@pytest.fixture
def existing(live_demo: DemoSummary) -> dict[str, Any]:
    """Path parameters naming objects that exist: half the cases use them, so the fuzzed requests also reach
    the answers of real objects (documents, publications, the Sandbox Test App), not only the 404s."""
    app = ConsumerApp.objects.get(name=SANDBOX_TEST_APP)
    return {"name": API_NAME, "version": "1.0.0", "app_id": app.pk}


@pytest.fixture
def api_schema(live_server: Any, live_demo: DemoSummary) -> Any:
    return schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema?format=json")


def fuzz_every_operation(
    api_schema: Any, examples: int, check: Callable[[Any], None], existing: dict[str, Any] | None = None
) -> list[str]:
    """Run ``check`` on ``examples`` generated cases of every operation; returns the failures, one line each
    (every operation runs, so one report names all those at fault)."""
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20, "the schema lost its operations"
    for operation in operations:

        @settings(FUZZ, max_examples=examples)
        @given(case=operation.as_strategy(), use_existing=st.booleans())
        def run(case: Any, use_existing: bool) -> None:
            parameters = case.path_parameters or {}
            known = existing if existing is not None and use_existing else {}
            for name, value in {**known, **PINNED}.items():
                if name in parameters:
                    parameters[name] = value
            check(case)

        try:
            run()
        except Exception as e:  # every operation runs, so one report names all those at fault
            failures.append(f"{operation.method.upper()} {operation.path}: {type(e).__name__}: {e}"[:2000])
    return failures


def test_every_operation_with_an_operator_key(api_schema: Any, operator_key: str, existing: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {operator_key}"}
    failures = fuzz_every_operation(
        api_schema,
        8,
        lambda case: case.call_and_validate(headers=headers, checks=[*CHECKS, ignored_auth]),
        existing,
    )
    assert not failures, "\n\n".join(failures)


def test_every_operation_without_a_key_is_401_while_schema_and_docs_are_public(
    api_schema: Any, live_server: Any
) -> None:
    def refused(case: Any) -> None:
        response = case.call()
        case.validate_response(response, checks=CHECKS)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"][0].startswith("Bearer")

    failures = fuzz_every_operation(api_schema, 2, refused)
    assert not failures, "\n\n".join(failures)
    for path in ("/api/v1/schema", "/api/v1/docs"):
        assert requests.get(live_server.url + path, timeout=10).status_code == 200, path
