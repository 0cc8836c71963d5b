"""Rotation of a key profile whose crypto objects encrypt and decrypt tokens (``jwe-crypto``), with zero failed
requests.

The decrypting side moves first, as verification does: once the new version is ``next``, jwt-validate opens
tokens encrypted to either version's key (the named one first, then the profile's other non-retired versions).
At activation jwt-generate's ``jwe-crypto`` moves to the new certificate (and jwt-validate's to the new key);
tokens encrypted to the old certificate before that decrypt until the old version retires, and the grace
period covers the validity of every API that encrypts to it. The demo of DESIGN.md section 1, with a second API
that signs and encrypts (``/securejwe``), is driven through the gateway with the Django test client.
"""

from __future__ import annotations

import base64
import copy
import json
import types
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import LazySettings
from django.test import Client
from time_machine import TimeMachineFixture

from keyprofiles import keymaterial, lifecycle
from keyprofiles import services as keyprofile_services
from keyprofiles.models import KeyProfileBinding
from portal import invalidation
from portal.models import Catalog
from portal.services import Actor
from tests.tokens.helpers import compile_policies
from tokens import jose, rotation, services, views
from tokens.demo import API_NAME, DemoSummary, demo_seed
from tokens.errors import PolicyConfigError
from tokens.models import Api, Publication
from tokens.rotation import KeySource, RotationPlan, keyprofile_rotate, lifecycle_tick
from tokens.runtime import CatalogCryptoResolver, Gateway

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
State = KeyProfileBinding.State
PROFILE = "jwt-keyprofile"
OLD_KEY = "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key"
OLD_CA = "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-ca-0"
NEW_KEY = "personal_sandbox_tlsp-jwt-keyprofileV1.0.1-key"
NEW_CA = "personal_sandbox_tlsp-jwt-keyprofileV1.0.1-ca-0"
PLAIN = "/personal/sandbox/securetoken"
JWE = "/personal/sandbox/securejwe"
JWE_VALIDITY = 600
ENCRYPTION = {"jwe-alg": "RSA-OAEP-256", "jwe-enc": "A256GCM"}
DOES_NOT_DECRYPT = "JWT validation failed, because the JWT does not decrypt"

pytestmark = pytest.mark.usefixtures("recheck_always")


@pytest.fixture
def clock(time_machine: TimeMachineFixture) -> TimeMachineFixture:
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def demo(db: None, clock: TimeMachineFixture, actor: Actor) -> DemoSummary:
    return demo_seed(admin_password="x", actor=actor)


@pytest.fixture
def sandbox_catalog(demo: DemoSummary) -> Catalog:
    return Catalog.objects.get(organization__slug="personal", slug="sandbox")


def encrypting_variant(
    *, name: str = "jwe-generation-and-validation", base_path: str = "/securejwe", signs_with: str = OLD_KEY
) -> dict[str, Any]:
    """The demo API under another name and base path, whose jwt-generate signs (for JWE_VALIDITY seconds) then
    encrypts to the profile's certificate, and whose jwt-validate decrypts with the profile's key."""
    document = copy.deepcopy(Api.objects.get(name=API_NAME).document)
    document["info"]["x-ibm-name"] = name
    document["info"]["title"] = name
    document["basePath"] = base_path
    for kind, properties in policies(document):
        if kind == "jwt-generate":
            properties.update({"exp-claim": JWE_VALIDITY, "jws-crypto": signs_with, "jwe-crypto": OLD_CA, **ENCRYPTION})
        else:
            properties["jwe-crypto"] = OLD_KEY
    return document


@pytest.fixture
def encrypting_api(sandbox_catalog: Catalog, actor: Actor) -> Publication:
    return publish(encrypting_variant(), sandbox_catalog, actor)


def policies(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(type, properties) of the document's jwt-generate and jwt-validate policies, in document order."""
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("jwt-generate", "jwt-validate") and isinstance(value, dict):
                    found.append((key, value))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document["x-ibm-configuration"]["assembly"])
    return found


def publish(document: dict[str, Any], catalog: Catalog, actor: Actor) -> Publication:
    api, _ = services.api_save(organization=catalog.organization, document=document, actor=actor)
    return services.api_publish(api=api, catalog=catalog, actor=actor)


def rotate(catalog: Catalog, actor: Actor, **options: Any) -> RotationPlan:
    return keyprofile_rotate(catalog=catalog, name=PROFILE, source=KeySource(), actor=actor, **options)


def at(clock: TimeMachineFixture, seconds: float) -> None:
    clock.move_to(T0 + timedelta(seconds=seconds), tick=False)


def generate(client: Client, client_id: str, base: str = JWE) -> str:
    response = client.get(
        f"{base}/generate", headers={"X-IBM-Client-Id": client_id, "iss-claim": "apic", "aud-claim": "id1"}
    )
    assert response.status_code == 200, response.content
    return str(response["Authorization"]).removeprefix("Bearer ")


def validate(client: Client, client_id: str, token: str, base: str = JWE) -> tuple[int, str]:
    response = client.get(
        f"{base}/validate", headers={"X-IBM-Client-Id": client_id, "Authorization": f"Bearer {token}"}
    )
    return response.status_code, response.content.decode()


def header(token: str) -> dict[str, Any]:
    text = token.split(".")[0]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    return value


def certificate_kid(version: str) -> str:
    """The kid of the profile version's certificate key: what a JWE encrypted to it, or a JWS signed by it,
    names in its header."""
    return keymaterial.key_id(keymaterial.public_key_from_certificate_pem(certificate_pem(version)))


def certificate_pem(version: str) -> str:
    keystore = binding(version).profile.keystore
    assert keystore is not None
    return keystore.certificate_pem


def binding(version: str) -> KeyProfileBinding:
    return KeyProfileBinding.objects.select_related("profile__keystore").get(
        profile__name=PROFILE, profile__version=version, catalog__slug="sandbox"
    )


def encrypted_to(version: str, signed: str) -> str:
    """``signed`` (a compact JWS) encrypted to the certificate of the profile's ``version``, as another party
    holding only that certificate would encrypt it."""
    key = jose.JweKey.from_public_key(keymaterial.public_key_from_certificate_pem(certificate_pem(version)))
    return jose.encrypt_compact(signed.encode(), key=key, cty="JWT", kid=certificate_kid(version), **_alg_enc())


def _alg_enc() -> dict[str, str]:
    return {"alg": ENCRYPTION["jwe-alg"], "enc": ENCRYPTION["jwe-enc"]}


def jwe_cryptos(publication: Publication) -> list[str]:
    return [properties["jwe-crypto"] for _, properties in policies(publication.document)]


# -- across a rotation --------------------------------------------------------------------------------------------


def test_an_api_that_encrypts_and_decrypts_with_a_rotated_profile_keeps_working_across_the_rotation(
    sandbox_catalog: Catalog,
    demo: DemoSummary,
    encrypting_api: Publication,
    actor: Actor,
    client: Client,
    clock: TimeMachineFixture,
) -> None:
    before = generate(client, demo.client_id)
    assert (before.count("."), header(before)["kid"]) == (4, certificate_kid("1.0.0"))
    assert validate(client, demo.client_id, before)[0] == 200

    plan = rotate(sandbox_catalog, actor, prepublish=timedelta(seconds=30))
    assert plan.minimum_grace == timedelta(seconds=JWE_VALIDITY)

    # Next: every process decrypts tokens encrypted to the new certificate, before any API encrypts to it.
    at(clock, 10)
    assert header(generate(client, demo.client_id))["kid"] == certificate_kid("1.0.0")
    signed_by_old = generate(client, demo.client_id, base=PLAIN)
    assert validate(client, demo.client_id, encrypted_to("1.0.1", signed_by_old))[0] == 200
    assert validate(client, demo.client_id, before)[0] == 200

    # Active: the API encrypts to the new certificate and decrypts with the new key first; tokens encrypted
    # to the old certificate keep decrypting while it is passive.
    at(clock, 30)
    assert lifecycle_tick(actor=actor).activated == ["jwt-keyprofile 1.0.1 in personal/sandbox"]
    moved = Publication.objects.get(api__name="jwe-generation-and-validation")
    assert jwe_cryptos(moved) == [NEW_CA, NEW_KEY]
    assert jwe_cryptos(encrypting_api) == [OLD_CA, OLD_KEY]
    after = generate(client, demo.client_id)
    assert header(after)["kid"] == certificate_kid("1.0.1")
    at(clock, JWE_VALIDITY - 1)
    assert validate(client, demo.client_id, before)[0] == 200
    assert validate(client, demo.client_id, after)[0] == 200

    # Retired at the end of the grace: the new key alone decrypts.
    at(clock, 30 + JWE_VALIDITY)
    assert lifecycle_tick(actor=actor).retired == ["jwt-keyprofile 1.0.0 in personal/sandbox"]
    signed_by_new = generate(client, demo.client_id, base=PLAIN)
    assert validate(client, demo.client_id, encrypted_to("1.0.1", signed_by_new))[0] == 200
    status, body = validate(client, demo.client_id, encrypted_to("1.0.0", signed_by_new))
    assert status == 400
    assert body.startswith(DOES_NOT_DECRYPT), body
    assert validate(client, demo.client_id, generate(client, demo.client_id))[0] == 200


def test_an_immediate_rotation_fails_no_request_of_an_encrypting_api(
    sandbox_catalog: Catalog, demo: DemoSummary, encrypting_api: Publication, actor: Actor, client: Client
) -> None:
    """The command's and the REST call's rotation (no prepublish): next, the wait, then active, in one call."""
    before = generate(client, demo.client_id)

    rotate(sandbox_catalog, actor)

    after = generate(client, demo.client_id)
    assert (header(before)["kid"], header(after)["kid"]) == (certificate_kid("1.0.0"), certificate_kid("1.0.1"))
    assert validate(client, demo.client_id, before)[0] == 200
    assert validate(client, demo.client_id, after)[0] == 200


# -- several processes ------------------------------------------------------------------------------------------


class FakeMonotonic:
    """A monotonic clock for ``portal.invalidation`` only, so a test decides when a worker looks again."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_a_worker_that_has_not_seen_the_activation_decrypts_tokens_encrypted_to_the_new_certificate(
    sandbox_catalog: Catalog,
    demo: DemoSummary,
    encrypting_api: Publication,
    actor: Actor,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    settings: LazySettings,
) -> None:
    """The race of test_rotation.py for signing, for encryption: a worker that last looked at the configuration
    during the propagation wait (it knows the next version, not that it is active) meets a token another worker
    already encrypted to the new certificate; and the fresh worker meets one the stale worker still encrypts to
    the old one."""
    clock = FakeMonotonic()
    settings.PORTAL_INVALIDATION = {**settings.PORTAL_INVALIDATION, "RECHECK_SECONDS": 1.0, "PROPAGATION_SECONDS": None}
    monkeypatch.setattr(invalidation, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    stale, fresh = Gateway(), Gateway()
    monkeypatch.setattr(views, "gateway", stale)
    old_token = generate(client, demo.client_id)
    assert validate(client, demo.client_id, old_token)[0] == 200  # warm, as under traffic

    def wait(seconds: float) -> None:
        clock.now += seconds - 0.5
        assert validate(client, demo.client_id, old_token)[0] == 200  # the stale worker looks: it learns next
        clock.now += 0.5

    monkeypatch.setattr(rotation, "wait_for_propagation", wait)
    rotate(sandbox_catalog, actor)
    monkeypatch.setattr(views, "gateway", fresh)
    new_token = generate(client, demo.client_id)
    assert header(new_token)["kid"] == certificate_kid("1.0.1")

    clock.now += 0.2  # within the stale worker's RECHECK_SECONDS: it does not look again
    monkeypatch.setattr(views, "gateway", stale)
    stale_token = generate(client, demo.client_id)
    status, body = validate(client, demo.client_id, new_token)

    assert status == 200, body
    assert header(stale_token)["kid"] == certificate_kid("1.0.0")
    monkeypatch.setattr(views, "gateway", fresh)
    assert validate(client, demo.client_id, stale_token)[0] == 200


# -- the grace period -------------------------------------------------------------------------------------------


def test_the_minimum_grace_counts_an_api_that_encrypts_to_the_profile_while_signing_with_another(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor
) -> None:
    """Tokens encrypted to the old certificate need its key until they expire, whoever signed them."""
    other = keyprofile_services.keystore_generate(
        organization=sandbox_catalog.organization, name="Other Keystore", common_name="other", actor=actor
    )
    keyprofile_services.keyprofile_create(
        organization=sandbox_catalog.organization,
        title="Other Signer",
        keystore=other,
        catalogs=[sandbox_catalog],
        actor=actor,
    )
    document = encrypting_variant(signs_with="personal_sandbox_tlsp-other-signerV1.0.0-key")
    publish(document, sandbox_catalog, actor)

    plan = rotate(sandbox_catalog, actor, dry_run=True)

    assert plan.minimum_grace == timedelta(seconds=JWE_VALIDITY)
    assert plan.apis == ["jwe-generation-and-validation 1.0.0", "jwt-generation-and-validation 1.0.0"]
    # Its twin encrypts to nothing: only the demo's 60 s count.
    for _, properties in policies(document):
        for prop in ("jwe-crypto", "jwe-alg", "jwe-enc"):
            properties.pop(prop, None)
    publish(document, sandbox_catalog, actor)
    assert rotate(sandbox_catalog, actor, dry_run=True).minimum_grace == timedelta(seconds=60)


# -- decryption keys of a profile's versions ---------------------------------------------------------------------


def test_decryption_tries_the_named_version_first_then_the_other_unretired_ones(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor, clock: TimeMachineFixture
) -> None:
    rotate(sandbox_catalog, actor)
    signed = "e30.e30.c2ln"  # what is inside does not matter to decryption
    old_keys = CatalogCryptoResolver(sandbox_catalog).decrypting(OLD_KEY).keys
    new_keys = CatalogCryptoResolver(sandbox_catalog).decrypting(NEW_KEY).keys
    assert len(old_keys) == len(new_keys) == 2
    for version, keys in (("1.0.0", old_keys), ("1.0.1", new_keys)):
        token = encrypted_to(version, signed)
        assert jose.decrypt_compact(token, keys=keys[:1])[1] == signed.encode()
        assert jose.decrypt_compact(token, keys=keys)[1] == signed.encode()

    at(clock, 60)
    lifecycle_tick(actor=actor)
    # The retired version decrypts nothing, even where a policy still names it.
    [only] = CatalogCryptoResolver(sandbox_catalog).decrypting(OLD_KEY).keys
    assert jose.decrypt_compact(encrypted_to("1.0.1", signed), keys=[only])[1] == signed.encode()
    with pytest.raises(jose.JoseError, match="decrypt"):
        jose.decrypt_compact(encrypted_to("1.0.0", signed), keys=[only])


def test_a_jwe_crypto_whose_versions_are_all_retired_is_refused_at_compile(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor
) -> None:
    decrypting = [{"jwt-validate": {"title": "v", "jws-jwk": "keys", "jwe-crypto": OLD_KEY}}]
    compile_policies(decrypting, CatalogCryptoResolver(sandbox_catalog))
    lifecycle.binding_transition(binding=binding("1.0.0"), state=State.RETIRED, actor=actor)

    with pytest.raises(PolicyConfigError) as caught:
        compile_policies(decrypting, CatalogCryptoResolver(sandbox_catalog))

    assert caught.value.prop == "jwe-crypto"
    assert f"'{OLD_KEY}' and every other version of its profile are retired" in str(caught.value)
