"""Fixtures shared by the whole suite: a fixed test master key ring, the demo organization and catalogs."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import LazySettings
from django.core.cache import cache

from keyprofiles import keycache
from keyprofiles.models import KeyProfile
from keyprofiles.services import keyprofile_create, truststore_import
from portal import invalidation
from portal.apikeys import api_keys
from portal.gateway_log import CallLineFormatter
from portal.models import Catalog, Organization
from portal.services import Actor, api_key_create, catalog_create, organization_create
from tests.keyfixtures import CERT1_PEM
from tokens import rotation
from tokens.runtime import Gateway, gateway

TEST_MASTER_KEY = base64.b64encode(bytes(range(32))).decode()
OTHER_MASTER_KEY = base64.b64encode(bytes(range(32, 64))).decode()


@pytest.fixture(autouse=True)
def _master_key_ring(settings: LazySettings) -> Iterator[None]:
    """Every test seals under a fixed ring; no test touches the developer's var/master.key."""
    settings.KEYPROFILES = {"MASTER_KEYS": f"test-1:{TEST_MASTER_KEY}", "MASTER_KEY_FILE": ""}
    keycache.clear()
    yield
    keycache.clear()


@pytest.fixture(autouse=True)
def _version_counter_inside_the_test_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests run inside a transaction that never commits, so the Redis copy of the configuration
    version (written on commit) would never move on the PostgreSQL+Redis pass; they read the database row,
    which the test's own connection sees. The system tests (tests/system) run real processes and exercise
    the Redis copy."""
    monkeypatch.setattr(invalidation, "cache_is_shared", lambda: False)


@pytest.fixture(autouse=True)
def _gateway_refreshes_in_the_request(settings: LazySettings) -> None:
    """In-process tests share one transaction that a background thread's connection would not see: the
    request that notices a change applies it (tests of the background refresh ask for it explicitly)."""
    settings.TOKENS_GATEWAY = {"REFRESH_IN_BACKGROUND": False}


@pytest.fixture(autouse=True)
def _rotation_settles_at_once(settings: LazySettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rotation waits a few seconds for every process to learn the new key before it signs; tests run in
    one process, so they skip the wait (the live and multi-node tests run rotations in real processes).
    Fixtures and tests that change PORTAL_INVALIDATION add to it: ``{**settings.PORTAL_INVALIDATION, ...}``."""
    settings.PORTAL_INVALIDATION = {"PROPAGATION_SECONDS": 0.0}
    monkeypatch.setattr(rotation, "wait_for_propagation", lambda seconds: None)


@pytest.fixture
def actor() -> Actor:
    return Actor(name="test-operator")


@pytest.fixture
def organization(db: None) -> Organization:
    return organization_create(slug="personal", title="Personal")


@pytest.fixture
def sandbox(organization: Organization) -> Catalog:
    return Catalog.objects.get(organization=organization, slug="sandbox")


@pytest.fixture
def production(organization: Organization) -> Catalog:
    return catalog_create(organization=organization, slug="production", title="Production")


# -- REST API ------------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_api_state() -> Iterator[None]:
    """An empty per-process API key lookup and empty rate counters (both outlive a test otherwise)."""
    api_keys.clear()
    cache.clear()
    yield
    api_keys.clear()
    cache.clear()


@pytest.fixture
def recheck_always(settings: LazySettings) -> None:
    """Processes look at the version counters (the gateway's configuration, API keys) on every request
    instead of once a second, so a test sees a publish, rotation or revocation without waiting."""
    settings.PORTAL_INVALIDATION = {**settings.PORTAL_INVALIDATION, "RECHECK_SECONDS": 0.0}


@pytest.fixture
def fresh_gateway() -> Iterator[Gateway]:
    """The gateway's state and the shared cache (version copies, replay and rate state) are process-wide: a
    test that uses the gateway starts and ends with both empty, so no test sees another's."""
    cache.clear()
    gateway.reset()
    yield gateway
    gateway.reset()
    cache.clear()


@pytest.fixture
def other_organization(db: None) -> Organization:
    return organization_create(slug="other", title="Other")


@pytest.fixture
def signer_keyprofile(organization: Organization, actor: Actor) -> KeyProfile:
    """'jwt-keyprofile' of 'personal' from a truststore only, in no catalog: the profile a signer key from
    ``make_key("signer")`` names, which must exist (tests that sign use the tokens suite's ``jwt_keyprofile``)."""
    truststore = truststore_import(
        organization=organization, name="Signer Truststore", data=CERT1_PEM.encode(), actor=actor
    )
    return keyprofile_create(organization=organization, title="JWT Keyprofile", truststore=truststore, actor=actor)


@pytest.fixture
def make_key(organization: Organization) -> Callable[..., str]:
    """``make_key(role, name=..., organization=..., **service options)`` -> the key text of a new API key.

    A signer key names 'jwt-keyprofile' unless told otherwise; that profile must exist (``jwt_keyprofile`` or
    ``signer_keyprofile``)."""
    counter = iter(range(1, 1000))

    def make(role: str = "operator", *, name: str | None = None, **options: Any) -> str:
        options.setdefault("organization", organization)
        if role == "signer":
            options.setdefault("profiles", ["jwt-keyprofile"])
        _, text = api_key_create(name=name or f"{role}-{next(counter)}", role=role, actor=Actor(name="test"), **options)
        return text

    return make


class CallLines(logging.Handler):
    """Keeps the gateway's call lines, formatted exactly as the call log writes them."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(CallLineFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def parsed(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def call_lines() -> Iterator[CallLines]:
    """The gateway's call lines logged during the test, with the line per call switched on (INFO). The calls
    logger does not propagate to the root logger, where caplog listens, so this listens on it directly."""
    gateway, calls = logging.getLogger("tokens.gateway"), logging.getLogger("tokens.gateway.calls")
    captured, level = CallLines(), gateway.level
    gateway.setLevel(logging.INFO)
    calls.addHandler(captured)
    yield captured
    calls.removeHandler(captured)
    gateway.setLevel(level)
