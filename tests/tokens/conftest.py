"""Fixtures of the tokens tests: a fresh gateway per test, key profiles from the fixed test keys, the demo, a
clock to move, and gateway workers as separate processes would hold them."""

from __future__ import annotations

import types
from collections.abc import Callable

import pytest
from django.conf import LazySettings
from time_machine import TimeMachineFixture

from keyprofiles.models import KeyProfile, Keystore
from keyprofiles.services import keyprofile_create, keystore_import, keystore_secret_create
from portal import invalidation
from portal.models import Catalog, Organization
from portal.services import Actor
from tests.keyfixtures import CERT1_PEM, EC256_CERT_PEM, EC256_KEY_PEM, KEY1_PEM
from tests.tokens.helpers import HMAC_SECRET, INSTANT, KEY_OBJECT, NOW, FakeMonotonic, answer, open_api
from tokens import views
from tokens.demo import DemoSummary, demo_seed
from tokens.models import Api
from tokens.runtime import CatalogCryptoResolver, Gateway
from tokens.services import api_publish, api_save


@pytest.fixture(autouse=True)
def _fresh_gateway(fresh_gateway: Gateway) -> None:
    """Every tokens test starts with a fresh gateway (``fresh_gateway``, tests/conftest.py)."""


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: LazySettings) -> None:
    """The demo creates an admin user; a deliberately slow password hash would dominate the suite's time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def frozen(time_machine: TimeMachineFixture) -> int:
    """Freeze the clock at INSTANT; returns it as a Unix time."""
    time_machine.move_to(INSTANT, tick=False)
    return NOW


@pytest.fixture
def clock(time_machine: TimeMachineFixture) -> TimeMachineFixture:
    """Freeze the clock at INSTANT, for a test that moves it on (``helpers.clock_after``)."""
    time_machine.move_to(INSTANT, tick=False)
    return time_machine


@pytest.fixture
def rsa_keystore(organization: Organization, actor: Actor) -> Keystore:
    return keystore_import(
        organization=organization,
        name="JWT Keystore",
        certificate=CERT1_PEM.encode(),
        private_key=KEY1_PEM.encode(),
        actor=actor,
    )


@pytest.fixture
def jwt_keyprofile(organization: Organization, sandbox: Catalog, rsa_keystore: Keystore, actor: Actor) -> KeyProfile:
    """'JWT Keyprofile' 1.0.0 from fixed key 1, enabled in sandbox: the crypto object names of the demo."""
    return keyprofile_create(
        organization=organization, title="JWT Keyprofile", keystore=rsa_keystore, catalogs=[sandbox], actor=actor
    )


@pytest.fixture
def ec_keyprofile(organization: Organization, sandbox: Catalog, actor: Actor) -> KeyProfile:
    keystore = keystore_import(
        organization=organization,
        name="EC Keystore",
        certificate=EC256_CERT_PEM.encode(),
        private_key=EC256_KEY_PEM.encode(),
        actor=actor,
    )
    return keyprofile_create(
        organization=organization, title="EC Keyprofile", keystore=keystore, catalogs=[sandbox], actor=actor
    )


@pytest.fixture
def hmac_keyprofile(organization: Organization, sandbox: Catalog, actor: Actor) -> KeyProfile:
    keystore = keystore_secret_create(
        organization=organization, name="HMAC Secret", secret=HMAC_SECRET.hex().encode(), actor=actor
    )
    return keyprofile_create(
        organization=organization, title="HMAC Keyprofile", keystore=keystore, catalogs=[sandbox], actor=actor
    )


@pytest.fixture
def resolver(sandbox: Catalog, jwt_keyprofile: KeyProfile) -> CatalogCryptoResolver:
    return CatalogCryptoResolver(sandbox)


@pytest.fixture
def bare_resolver(sandbox: Catalog) -> CatalogCryptoResolver:
    """The sandbox's resolver when no key profile is enabled: for policies that name no key."""
    return CatalogCryptoResolver(sandbox)


@pytest.fixture
def demo_generated(organization: Organization, actor: Actor) -> DemoSummary:
    """The demo of DESIGN.md section 1 exactly as ``seed_demo`` seeds it, generating its RSA key."""
    return demo_seed(admin_password="x", actor=actor)


@pytest.fixture
def demo(rsa_keystore: Keystore, actor: Actor) -> DemoSummary:
    """The demo, seeded over an existing 'JWT Keystore' of fixed key 1: the same objects and names, without
    the cost of generating a key (demo_seed keeps a keystore it finds)."""
    summary = demo_seed(admin_password="x", actor=actor)
    assert KeyProfile.objects.get(name="jwt-keyprofile").keystore == rsa_keystore
    return summary


@pytest.fixture
def sandbox_catalog(demo: DemoSummary) -> Catalog:
    """The sandbox of the demo the test module seeds (its own ``demo`` fixture, if it has one)."""
    return Catalog.objects.get(organization__slug="personal", slug="sandbox")


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch, settings: LazySettings) -> tuple[FakeMonotonic, Callable[[Gateway], None]]:
    """Two or more gateway workers as separate processes would hold them, each with its own warm state, looking
    at the configuration once a second by a clock the test moves; ``on(worker)`` routes the Django test client's
    next gateway calls to that worker."""
    clock = FakeMonotonic()
    settings.PORTAL_INVALIDATION = {**settings.PORTAL_INVALIDATION, "RECHECK_SECONDS": 1.0}
    monkeypatch.setattr(invalidation, "time", types.SimpleNamespace(monotonic=clock.monotonic))

    def on(worker: Gateway) -> None:
        monkeypatch.setattr(views, "gateway", worker)

    return clock, on


@pytest.fixture
def signer_api(sandbox: Catalog, actor: Actor, jwt_keyprofile: KeyProfile) -> Api:
    """``signer`` 1.0.0 published in sandbox, open to any caller, signing with the crypto object its property
    $(signing-key) names (the fixed key's)."""
    generate = {"jwt-generate": {"title": "sign", "jws-crypto": "$(signing-key)", "jws-alg": "RS256"}}
    document = open_api("signer", [generate, answer("$(generated.jwt)")], {"signing-key": {"value": KEY_OBJECT}})
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)
    return api
