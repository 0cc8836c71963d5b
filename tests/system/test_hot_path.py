"""The hot path (DESIGN.md section 5; docs/architecture.md, "The hot path"): once warm, a gateway request makes
no database query and parses no key; a cold worker loads its keys without checking them again.

In process, through the Django test client, on whichever database and cache the suite runs on (SQLite and the
local-memory cache, or PostgreSQL and Redis). With the local-memory cache a process reads the configuration
version from the database at most every RECHECK_SECONDS; the warm part sets that interval out of reach, and
a twin shows that a request after a version bump, once the interval has passed, does query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from keyprofiles import keycache, keymaterial
from keyprofiles.keymaterial import keys
from keyprofiles.services import keystore_import
from portal import invalidation
from portal.models import Organization
from portal.services import Actor
from tests.keyfixtures import CERT1_PEM, KEY1_PEM
from tokens.demo import DemoSummary, demo_seed
from tokens.runtime import gateway

pytestmark = pytest.mark.django_db

GATEWAY = "/personal/sandbox/securetoken"
JWKS = "/personal/sandbox/.well-known/jwks.json"
WARM_ROUNDS = 5
OUT_OF_REACH = 3600.0  # seconds: no recheck of the version during the test


@pytest.fixture(autouse=True)
def _cold_process(settings: Any) -> Iterator[None]:
    """Every test starts as a fresh worker: no catalog state, no parsed key, no cached version."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # the demo's admin user
    cache.clear()
    gateway.reset()
    keycache.clear()
    yield
    gateway.reset()
    keycache.clear()
    cache.clear()


@pytest.fixture
def demo(organization: Organization, actor: Actor) -> DemoSummary:
    """The demo over a 'JWT Keystore' of fixed key 1 (demo_seed keeps a keystore it finds): no key generation."""
    keystore_import(
        organization=organization,
        name="JWT Keystore",
        certificate=CERT1_PEM.encode(),
        private_key=KEY1_PEM.encode(),
        actor=actor,
    )
    summary = demo_seed(admin_password="x", actor=actor)
    keycache.clear()  # what setting up parsed is not the gateway's: it starts cold
    return summary


class Counted:
    """A wrapper that counts the calls of the function it wraps and records their keyword arguments."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.kwargs: list[dict[str, Any]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.kwargs.append(dict(kwargs))
        return self.function(*args, **kwargs)

    @property
    def calls(self) -> int:
        return len(self.kwargs)


@pytest.fixture
def key_parses(monkeypatch: pytest.MonkeyPatch) -> dict[str, Counted]:
    """Counts every parse of a stored key: the private key out of its sealed box, the public key of a
    certificate (callers reach both through the keymaterial module, so patching it reaches every caller)."""
    counters = {
        name: Counted(getattr(keymaterial, name))
        for name in ("private_key_from_sealed_der", "public_key_from_certificate_pem")
    }
    for name, counter in counters.items():
        monkeypatch.setattr(keymaterial, name, counter)
    return counters


@pytest.fixture
def der_loader(monkeypatch: pytest.MonkeyPatch) -> Counted:
    """The loader keymaterial calls for DER private keys, spied on (its keyword arguments are recorded)."""
    spy = Counted(keys.load_der_private_key)
    monkeypatch.setattr(keys, "load_der_private_key", spy)
    return spy


def total(counters: dict[str, Counted]) -> int:
    return sum(counter.calls for counter in counters.values())


def generate(client: Client, demo: DemoSummary) -> str:
    answer = client.get(
        f"{GATEWAY}/generate", headers={"X-IBM-Client-Id": demo.client_id, "iss-claim": "apic", "aud-claim": "id1"}
    )
    assert answer.status_code == 200, answer.content
    token: str = answer["Authorization"].removeprefix("Bearer ")
    return token


def validate(client: Client, demo: DemoSummary, token: str) -> None:
    answer = client.get(
        f"{GATEWAY}/validate", headers={"X-IBM-Client-Id": demo.client_id, "Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["iss"] == "apic"


def jwks(client: Client) -> None:
    answer = client.get(JWKS)
    assert answer.status_code == 200, answer.content
    assert answer.json()["keys"]


def warm_requests(client: Client, demo: DemoSummary) -> None:
    for _ in range(WARM_ROUNDS):
        validate(client, demo, generate(client, demo))
        jwks(client)


def test_a_warm_gateway_request_makes_no_query_and_parses_no_key(
    client: Client,
    demo: DemoSummary,
    key_parses: dict[str, Counted],
    monkeypatch: pytest.MonkeyPatch,
    django_assert_num_queries: Any,
) -> None:
    monkeypatch.setattr(invalidation, "RECHECK_SECONDS", OUT_OF_REACH)
    # The twin: the first request of a cold process queries the database and parses the keys.
    with CaptureQueriesContext(connection) as cold:
        token = generate(client, demo)
    assert len(cold.captured_queries) > 0
    assert key_parses["private_key_from_sealed_der"].calls > 0
    assert key_parses["public_key_from_certificate_pem"].calls > 0

    for counter in key_parses.values():
        counter.kwargs.clear()
    with django_assert_num_queries(0):
        validate(client, demo, token)
        warm_requests(client, demo)
    assert total(key_parses) == 0


def test_after_a_version_bump_the_next_request_queries_again(
    client: Client,
    demo: DemoSummary,
    key_parses: dict[str, Counted],
    monkeypatch: pytest.MonkeyPatch,
    django_assert_num_queries: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    monkeypatch.setattr(invalidation, "RECHECK_SECONDS", OUT_OF_REACH)
    generate(client, demo)
    with django_assert_num_queries(0):
        warm_requests(client, demo)

    # The version moves (a publish, rotation or credential change elsewhere) and the interval has passed.
    with django_capture_on_commit_callbacks(execute=True):  # the copy to a shared cache happens on commit
        invalidation.bump_version()
    monkeypatch.setattr(invalidation, "RECHECK_SECONDS", 0.0)
    with CaptureQueriesContext(connection) as rebuilt:
        generate(client, demo)
    assert len(rebuilt.captured_queries) > 0
    assert key_parses["public_key_from_certificate_pem"].calls > 0

    # Warm again: the rebuilt state serves without a query.
    monkeypatch.setattr(invalidation, "RECHECK_SECONDS", OUT_OF_REACH)
    with django_assert_num_queries(0):
        warm_requests(client, demo)


def test_a_cold_worker_loads_its_keys_without_the_rsa_check(
    client: Client, demo: DemoSummary, der_loader: Counted
) -> None:
    token = generate(client, demo)
    validate(client, demo, token)
    assert der_loader.calls > 0
    assert all(kwargs.get("unsafe_skip_rsa_key_validation") is True for kwargs in der_loader.kwargs)


def test_an_upload_runs_the_full_rsa_check(der_loader: Counted) -> None:
    """The twin of the cold worker: a key arriving from outside is checked in full (DESIGN.md section 6)."""
    material = keymaterial.keystore_material_from_upload(
        certificate=CERT1_PEM.encode(), private_key=KEY1_PEM.encode(), now=datetime(2030, 1, 1, tzinfo=UTC)
    )
    assert material.key_size == 2048
    assert any(not kwargs.get("unsafe_skip_rsa_key_validation", False) for kwargs in der_loader.kwargs)
