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

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import LazySettings
from django.test import Client
from time_machine import TimeMachineFixture

from keyprofiles import keymaterial, lifecycle
from keyprofiles import services as keyprofile_services
from keyprofiles.models import KeyProfileBinding
from portal.models import Catalog
from portal.services import Actor
from tests.tokens.helpers import (
    CERT_OBJECT,
    DEMO_PROFILE,
    KEY_OBJECT,
    NEW_CERT_OBJECT,
    NEW_KEY_OBJECT,
    FakeMonotonic,
    certificate_kid,
    clock_after,
    compile_policies,
    demo_profile_rotate,
    document_publish,
    gateway_generate,
    gateway_validate,
    jwt_policies,
    renamed_copy,
    token_kid,
)
from tokens import jose, rotation
from tokens.demo import API_NAME, DemoSummary, demo_seed
from tokens.errors import PolicyConfigError
from tokens.models import Api, Publication
from tokens.rotation import lifecycle_tick
from tokens.runtime import CatalogCryptoResolver, Gateway

State = KeyProfileBinding.State
JWE = "/personal/sandbox/securejwe"
JWE_VALIDITY = 600
ENCRYPTION = {"jwe-alg": "RSA-OAEP-256", "jwe-enc": "A256GCM"}
DOES_NOT_DECRYPT = "JWT validation failed, because the JWT does not decrypt"

pytestmark = pytest.mark.usefixtures("recheck_always")


@pytest.fixture
def demo(db: None, clock: TimeMachineFixture, actor: Actor) -> DemoSummary:
    return demo_seed(admin_password="x", actor=actor)


def encrypting_variant(
    *, name: str = "jwe-generation-and-validation", base_path: str = "/securejwe", signs_with: str = KEY_OBJECT
) -> dict[str, Any]:
    """The demo API under another name and base path, whose jwt-generate signs (for JWE_VALIDITY seconds) then
    encrypts to the profile's certificate, and whose jwt-validate decrypts with the profile's key."""
    document = renamed_copy(Api.objects.get(name=API_NAME).document, name=name, base_path=base_path)
    for kind, properties in jwt_policies(document):
        if kind == "jwt-generate":
            properties.update(
                {"exp-claim": JWE_VALIDITY, "jws-crypto": signs_with, "jwe-crypto": CERT_OBJECT, **ENCRYPTION}
            )
        else:
            properties["jwe-crypto"] = KEY_OBJECT
    return document


@pytest.fixture
def encrypting_api(sandbox_catalog: Catalog, actor: Actor) -> Publication:
    return document_publish(encrypting_variant(), sandbox_catalog, actor)


def version_kid(version: str) -> str:
    """The kid of the profile version's certificate key: what a JWE encrypted to it, or a JWS signed by it,
    names in its header."""
    return certificate_kid(certificate_pem(version))


def certificate_pem(version: str) -> str:
    keystore = binding(version).profile.keystore
    assert keystore is not None
    return keystore.certificate_pem


def binding(version: str) -> KeyProfileBinding:
    return KeyProfileBinding.objects.select_related("profile__keystore").get(
        profile__name=DEMO_PROFILE, profile__version=version, catalog__slug="sandbox"
    )


def encrypted_to(version: str, signed: str) -> str:
    """``signed`` (a compact JWS) encrypted to the certificate of the profile's ``version``, as another party
    holding only that certificate would encrypt it."""
    key = jose.JweKey.from_public_key(keymaterial.public_key_from_certificate_pem(certificate_pem(version)))
    return jose.encrypt_compact(signed.encode(), key=key, cty="JWT", kid=version_kid(version), **_alg_enc())


def _alg_enc() -> dict[str, str]:
    return {"alg": ENCRYPTION["jwe-alg"], "enc": ENCRYPTION["jwe-enc"]}


def jwe_cryptos(publication: Publication) -> list[str]:
    return [properties["jwe-crypto"] for _, properties in jwt_policies(publication.document)]


# -- across a rotation --------------------------------------------------------------------------------------------


def test_an_api_that_encrypts_and_decrypts_with_a_rotated_profile_keeps_working_across_the_rotation(
    sandbox_catalog: Catalog,
    demo: DemoSummary,
    encrypting_api: Publication,
    actor: Actor,
    client: Client,
    clock: TimeMachineFixture,
) -> None:
    before = gateway_generate(client, demo.client_id, JWE)
    assert (before.count("."), token_kid(before)) == (4, version_kid("1.0.0"))
    assert gateway_validate(client, demo.client_id, before, JWE)[0] == 200

    plan = demo_profile_rotate(sandbox_catalog, actor, prepublish=timedelta(seconds=30))
    assert plan.minimum_grace == timedelta(seconds=JWE_VALIDITY)

    # Next: every process decrypts tokens encrypted to the new certificate, before any API encrypts to it.
    clock_after(clock, seconds=10)
    assert token_kid(gateway_generate(client, demo.client_id, JWE)) == version_kid("1.0.0")
    signed_by_old = gateway_generate(client, demo.client_id)
    assert gateway_validate(client, demo.client_id, encrypted_to("1.0.1", signed_by_old), JWE)[0] == 200
    assert gateway_validate(client, demo.client_id, before, JWE)[0] == 200

    # Active: the API encrypts to the new certificate and decrypts with the new key first; tokens encrypted
    # to the old certificate keep decrypting while it is passive.
    clock_after(clock, seconds=30)
    assert lifecycle_tick(actor=actor).activated == ["jwt-keyprofile 1.0.1 in personal/sandbox"]
    moved = Publication.objects.get(api__name="jwe-generation-and-validation")
    assert jwe_cryptos(moved) == [NEW_CERT_OBJECT, NEW_KEY_OBJECT]
    assert jwe_cryptos(encrypting_api) == [CERT_OBJECT, KEY_OBJECT]
    after = gateway_generate(client, demo.client_id, JWE)
    assert token_kid(after) == version_kid("1.0.1")
    clock_after(clock, seconds=JWE_VALIDITY - 1)
    assert gateway_validate(client, demo.client_id, before, JWE)[0] == 200
    assert gateway_validate(client, demo.client_id, after, JWE)[0] == 200

    # Retired at the end of the grace: the new key alone decrypts.
    clock_after(clock, seconds=30 + JWE_VALIDITY)
    assert lifecycle_tick(actor=actor).retired == ["jwt-keyprofile 1.0.0 in personal/sandbox"]
    signed_by_new = gateway_generate(client, demo.client_id)
    assert gateway_validate(client, demo.client_id, encrypted_to("1.0.1", signed_by_new), JWE)[0] == 200
    status, body = gateway_validate(client, demo.client_id, encrypted_to("1.0.0", signed_by_new), JWE)
    assert status == 400
    assert body.startswith(DOES_NOT_DECRYPT), body
    assert gateway_validate(client, demo.client_id, gateway_generate(client, demo.client_id, JWE), JWE)[0] == 200


def test_an_immediate_rotation_fails_no_request_of_an_encrypting_api(
    sandbox_catalog: Catalog, demo: DemoSummary, encrypting_api: Publication, actor: Actor, client: Client
) -> None:
    """The command's and the REST call's rotation (no prepublish): next, the wait, then active, in one call."""
    before = gateway_generate(client, demo.client_id, JWE)

    demo_profile_rotate(sandbox_catalog, actor)

    after = gateway_generate(client, demo.client_id, JWE)
    assert (token_kid(before), token_kid(after)) == (version_kid("1.0.0"), version_kid("1.0.1"))
    assert gateway_validate(client, demo.client_id, before, JWE)[0] == 200
    assert gateway_validate(client, demo.client_id, after, JWE)[0] == 200


# -- several processes ------------------------------------------------------------------------------------------


def test_a_worker_that_has_not_seen_the_activation_decrypts_tokens_encrypted_to_the_new_certificate(
    sandbox_catalog: Catalog,
    demo: DemoSummary,
    encrypting_api: Publication,
    actor: Actor,
    client: Client,
    workers: tuple[FakeMonotonic, Callable[[Gateway], None]],
    monkeypatch: pytest.MonkeyPatch,
    settings: LazySettings,
) -> None:
    """The race of test_rotation.py for signing, for encryption: a worker that last looked at the configuration
    during the propagation wait (it knows the next version, not that it is active) meets a token another worker
    already encrypted to the new certificate; and the fresh worker meets one the stale worker still encrypts to
    the old one."""
    clock, on = workers
    settings.PORTAL_INVALIDATION = {**settings.PORTAL_INVALIDATION, "PROPAGATION_SECONDS": None}
    stale, fresh = Gateway(), Gateway()
    on(stale)
    old_token = gateway_generate(client, demo.client_id, JWE)
    assert gateway_validate(client, demo.client_id, old_token, JWE)[0] == 200  # warm, as under traffic

    def wait(seconds: float) -> None:
        clock.now += seconds - 0.5
        assert (
            gateway_validate(client, demo.client_id, old_token, JWE)[0] == 200
        )  # the stale worker looks: it learns next
        clock.now += 0.5

    monkeypatch.setattr(rotation, "wait_for_propagation", wait)
    demo_profile_rotate(sandbox_catalog, actor)
    on(fresh)
    new_token = gateway_generate(client, demo.client_id, JWE)
    assert token_kid(new_token) == version_kid("1.0.1")

    clock.now += 0.2  # within the stale worker's RECHECK_SECONDS: it does not look again
    on(stale)
    stale_token = gateway_generate(client, demo.client_id, JWE)
    status, body = gateway_validate(client, demo.client_id, new_token, JWE)

    assert status == 200, body
    assert token_kid(stale_token) == version_kid("1.0.0")
    on(fresh)
    assert gateway_validate(client, demo.client_id, stale_token, JWE)[0] == 200


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
    document_publish(document, sandbox_catalog, actor)

    plan = demo_profile_rotate(sandbox_catalog, actor, dry_run=True)

    assert plan.minimum_grace == timedelta(seconds=JWE_VALIDITY)
    assert plan.apis == ["jwe-generation-and-validation 1.0.0", "jwt-generation-and-validation 1.0.0"]
    # Its twin encrypts to nothing: only the demo's 60 s count.
    for _, properties in jwt_policies(document):
        for prop in ("jwe-crypto", "jwe-alg", "jwe-enc"):
            properties.pop(prop, None)
    document_publish(document, sandbox_catalog, actor)
    assert demo_profile_rotate(sandbox_catalog, actor, dry_run=True).minimum_grace == timedelta(seconds=60)


# -- decryption keys of a profile's versions ---------------------------------------------------------------------


def test_decryption_tries_the_named_version_first_then_the_other_unretired_ones(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor, clock: TimeMachineFixture
) -> None:
    demo_profile_rotate(sandbox_catalog, actor)
    signed = "e30.e30.c2ln"  # what is inside does not matter to decryption
    old_keys = CatalogCryptoResolver(sandbox_catalog).decrypting(KEY_OBJECT).keys
    new_keys = CatalogCryptoResolver(sandbox_catalog).decrypting(NEW_KEY_OBJECT).keys
    assert len(old_keys) == len(new_keys) == 2
    for version, keys in (("1.0.0", old_keys), ("1.0.1", new_keys)):
        token = encrypted_to(version, signed)
        assert jose.decrypt_compact(token, keys=keys[:1])[1] == signed.encode()
        assert jose.decrypt_compact(token, keys=keys)[1] == signed.encode()

    clock_after(clock, seconds=60)
    lifecycle_tick(actor=actor)
    # The retired version decrypts nothing, even where a policy still names it.
    [only] = CatalogCryptoResolver(sandbox_catalog).decrypting(KEY_OBJECT).keys
    assert jose.decrypt_compact(encrypted_to("1.0.1", signed), keys=[only])[1] == signed.encode()
    with pytest.raises(jose.JoseError, match="decrypt"):
        jose.decrypt_compact(encrypted_to("1.0.0", signed), keys=[only])


def test_a_jwe_crypto_whose_versions_are_all_retired_is_refused_at_compile(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor
) -> None:
    decrypting = [{"jwt-validate": {"title": "v", "jws-jwk": "keys", "jwe-crypto": KEY_OBJECT}}]
    compile_policies(decrypting, CatalogCryptoResolver(sandbox_catalog))
    lifecycle.binding_transition(binding=binding("1.0.0"), state=State.RETIRED, actor=actor)

    with pytest.raises(PolicyConfigError) as caught:
        compile_policies(decrypting, CatalogCryptoResolver(sandbox_catalog))

    assert caught.value.prop == "jwe-crypto"
    assert f"'{KEY_OBJECT}' and every other version of its profile are retired" in str(caught.value)
