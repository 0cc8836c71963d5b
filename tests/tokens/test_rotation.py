"""tokens.rotation: rotating a key profile in a catalog without a failed request, and the key life cycle
(``next`` -> ``active`` -> ``passive`` -> ``retired``) that ``lifecycle_tick`` advances.

The demo of DESIGN.md section 1 is seeded, rotated through the service, and driven through the gateway with
the Django test client, so a test sees what a caller sees: the kid of a minted token, a validation answer,
the JWKS. The clock is frozen and moved with time_machine; the gateway looks at the configuration version on
every request (``RECHECK_SECONDS = 0``), so no test resets it by hand after a change.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.conf import LazySettings
from django.core.exceptions import ValidationError
from django.test import Client
from time_machine import TimeMachineFixture

from keyprofiles import lifecycle
from keyprofiles import services as keyprofile_services
from keyprofiles.keymaterial import KeyMaterialError
from keyprofiles.models import CryptoObject, KeyProfile, KeyProfileBinding, Keystore
from portal import invalidation
from portal.durations import parse_duration
from portal.models import AuditEvent, Catalog, Organization
from portal.services import Actor, organization_create
from tests import keyfixtures as fx
from tests.tokens.helpers import (
    CERT_OBJECT,
    DEMO_PROFILE,
    INSTANT,
    KEY_OBJECT,
    NEW_CERT_OBJECT,
    NEW_KEY_OBJECT,
    FakeMonotonic,
    certificate_kid,
    clock_after,
    demo_profile_rotate,
    document_publish,
    gateway_generate,
    gateway_validate,
    jwt_policies,
    renamed_copy,
    segment,
    token_kid,
)
from tokens import rotation, services
from tokens.demo import API_DOCUMENT, API_NAME, DemoSummary, demo_seed
from tokens.documents import document_load
from tokens.errors import PolicyConfigError
from tokens.models import Api, Publication
from tokens.rotation import (
    KeySource,
    RotationError,
    lifecycle_tick,
)
from tokens.runtime import Gateway

State = KeyProfileBinding.State
RETIRED_MESSAGE = re.compile(
    r"^JWT validation failed, because the JWT was signed by a retired key \(jwt-keyprofile 1\.0\.0, kid [\w-]+\)$"
)


# The tokens conftest gives each test a fresh gateway; these look at the version on every request.
pytestmark = pytest.mark.usefixtures("recheck_always")


@pytest.fixture
def demo(db: None, clock: TimeMachineFixture, actor: Actor) -> DemoSummary:
    return demo_seed(admin_password="x", actor=actor)


# -- what a caller sees ---------------------------------------------------------------------------------------


def jwks_kids(client: Client, catalog: str = "sandbox") -> set[str]:
    response = client.get(f"/personal/{catalog}/.well-known/jwks.json")
    assert response.status_code == 200
    return {key["kid"] for key in response.json()["keys"]}


def binding(version: str, name: str = DEMO_PROFILE, catalog: str = "sandbox") -> KeyProfileBinding:
    return KeyProfileBinding.objects.select_related("profile__keystore").get(
        profile__name=name, profile__version=version, catalog__slug=catalog
    )


def publication() -> Publication:
    return Publication.objects.select_related("api").get(api__name=API_NAME, catalog__slug="sandbox")


def jws_cryptos(document: dict[str, Any]) -> list[str]:
    """The crypto objects the document's jwt policies name, in document order."""
    return [properties.get("jws-crypto", "") for _, properties in jwt_policies(document)]


def counts() -> dict[str, Any]:
    return {
        "keystores": Keystore.objects.count(),
        "profiles": KeyProfile.objects.count(),
        "bindings": list(KeyProfileBinding.objects.order_by("pk").values_list("state", "grace_ends_at")),
        "crypto_objects": CryptoObject.objects.count(),
        "revisions": list(Publication.objects.order_by("pk").values_list("revision", flat=True)),
        "documents": list(Api.objects.order_by("pk").values_list("document_text", flat=True)),
        "rotations": AuditEvent.objects.filter(action="keyprofile.rotate").count(),
    }


def variant(
    document: dict[str, Any],
    *,
    name: str,
    base_path: str,
    exp: int | None = None,
    key: str | None = None,
    certificate: str | None = None,
    alg: str | None = None,
) -> dict[str, Any]:
    """The demo document under another name and base path, optionally with another validity, keys or alg."""
    document = renamed_copy(document, name=name, base_path=base_path)
    for kind, properties in jwt_policies(document):
        if kind == "jwt-generate":
            if exp is not None:
                properties["exp-claim"] = exp
            if key is not None:
                properties["jws-crypto"] = key
            if alg is not None:
                properties["jws-alg"] = alg
        if kind == "jwt-validate" and certificate is not None:
            properties["jws-crypto"] = certificate
    return document


def swap_crypto(document: dict[str, Any], renames: dict[str, str]) -> None:
    for _, properties in jwt_policies(document):
        if properties.get("jws-crypto") in renames:
            properties["jws-crypto"] = renames[properties["jws-crypto"]]


# -- parse_duration ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("15m", 900),
        ("2h", 7200),
        ("7d", 604800),
        ("1w", 604800),
        ("1h30m", 5400),
        (" 8S ", 8),
        ("1h 30m", 5400),
    ],
)
def test_parse_duration_reads_numbers_with_units(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "  ", "h", "2x", "ten minutes", "-5s", "1.5h", "2h!"])
def test_parse_duration_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


# -- the rotation itself ----------------------------------------------------------------------------------------


def test_rotation_makes_a_new_version_with_a_new_key_and_moves_the_demo_api(
    sandbox_catalog: Catalog, actor: Actor
) -> None:
    before = publication()
    old_keystore = binding("1.0.0").profile.keystore

    plan = demo_profile_rotate(sandbox_catalog, actor)

    new = binding("1.0.1")
    assert new.state == State.ACTIVE
    assert new.replaces == binding("1.0.0")
    assert new.profile.title == "JWT Keyprofile"
    assert new.profile.keystore is not None
    assert old_keystore is not None
    assert new.profile.keystore.pk != old_keystore.pk
    assert new.profile.keystore.name == "JWT Keystore 1.0.1"
    assert new.profile.keystore.fingerprint_sha256 != old_keystore.fingerprint_sha256
    assert (new.profile.keystore.key_type, new.profile.keystore.key_size) == ("RSA", 2048)
    assert sorted(new.crypto_objects.values_list("name", flat=True)) == [NEW_CERT_OBJECT, NEW_KEY_OBJECT]
    # Only the key names change in the republished snapshot, and the API's draft follows.
    after = publication()
    assert after.revision == before.revision + 1
    assert jws_cryptos(before.document) == [KEY_OBJECT, CERT_OBJECT]
    assert jws_cryptos(after.document) == [NEW_KEY_OBJECT, NEW_CERT_OBJECT]
    assert after.document_text.replace("V1.0.1-", "V1.0.0-") == before.document_text
    assert jws_cryptos(after.api.document) == [NEW_KEY_OBJECT, NEW_CERT_OBJECT]
    # The old version verifies for the demo's token validity (exp-claim 60), then retires.
    old = binding("1.0.0")
    assert old.state == State.PASSIVE
    assert old.grace_ends_at == INSTANT + timedelta(seconds=60)
    assert plan.as_dict() == {
        "organization": "personal",
        "catalog": "sandbox",
        "profile": DEMO_PROFILE,
        "old_version": "1.0.0",
        "new_version": "1.0.1",
        "key_source": "generated like the current key",
        "grace_seconds": 60,
        "prepublish_seconds": 0,
        "activates_at": INSTANT.isoformat(),
        "old_version_retires_at": (INSTANT + timedelta(seconds=60)).isoformat(),
        "apis_moved": ["jwt-generation-and-validation 1.0.0"],
        "crypto_objects": {CERT_OBJECT: NEW_CERT_OBJECT, KEY_OBJECT: NEW_KEY_OBJECT},
        "dry_run": False,
    }
    [event] = AuditEvent.objects.filter(action="keyprofile.rotate")
    assert event.actor == actor.name
    assert event.detail["new_version"] == "1.0.1"


def test_longer_grace_than_the_minimum_is_kept(sandbox_catalog: Catalog, actor: Actor) -> None:
    plan = demo_profile_rotate(sandbox_catalog, actor, grace=timedelta(hours=2))

    assert plan.grace == timedelta(hours=2)
    assert binding("1.0.0").grace_ends_at == INSTANT + timedelta(hours=2)


def test_generate_signs_with_the_new_key_once_rotated(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor, client: Client
) -> None:
    old_kid = token_kid(gateway_generate(client, demo.client_id))
    assert old_kid == certificate_kid(binding("1.0.0").profile.keystore.certificate_pem)

    demo_profile_rotate(sandbox_catalog, actor)

    new_kid = token_kid(gateway_generate(client, demo.client_id))
    assert new_kid == certificate_kid(binding("1.0.1").profile.keystore.certificate_pem)
    assert new_kid != old_kid


def test_tokens_from_before_and_after_the_rotation_validate_until_the_old_key_retires(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor, client: Client, clock: TimeMachineFixture
) -> None:
    before = gateway_generate(client, demo.client_id)
    demo_profile_rotate(sandbox_catalog, actor)
    clock_after(clock, seconds=50)
    after = gateway_generate(client, demo.client_id)
    assert token_kid(before) != token_kid(after)

    # During the grace period (it ends at INSTANT + 60 s) both validate.
    clock_after(clock, seconds=59)
    assert gateway_validate(client, demo.client_id, before)[0] == 200
    assert gateway_validate(client, demo.client_id, after)[0] == 200
    assert lifecycle_tick(actor=actor).retired == []
    assert gateway_validate(client, demo.client_id, before)[0] == 200

    # Once the grace has ended and retire_keys ran, the old key verifies nothing.
    clock_after(clock, seconds=60)
    report = lifecycle_tick(actor=actor)

    assert report.retired == ["jwt-keyprofile 1.0.0 in personal/sandbox"]
    assert binding("1.0.0").state == State.RETIRED
    status, body = gateway_validate(client, demo.client_id, before)
    assert status == 400
    assert RETIRED_MESSAGE.match(body), body
    assert token_kid(before) in body
    status, body = gateway_validate(client, demo.client_id, after)
    assert (status, json.loads(body)["iss"]) == (200, "apic")


def test_a_token_naming_a_kid_the_catalog_never_had_fails_without_naming_a_retired_key(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor, client: Client, clock: TimeMachineFixture
) -> None:
    """The twin of the retired-key message: the same old token with another kid gets the plain failure."""
    token = gateway_generate(client, demo.client_id)
    demo_profile_rotate(sandbox_catalog, actor)
    clock_after(clock, seconds=60)
    lifecycle_tick(actor=actor)
    _, payload, signature = token.split(".")
    other_header = base64.urlsafe_b64encode(json.dumps({**segment(token, 0), "kid": "never-seen"}).encode())

    status, body = gateway_validate(
        client, demo.client_id, f"{other_header.rstrip(b'=').decode()}.{payload}.{signature}"
    )

    assert status == 400
    assert body.startswith("JWT validation failed, because the JWT signature does not verify")
    assert "retired" not in body
    status, body = gateway_validate(client, demo.client_id, token)
    assert (status, bool(RETIRED_MESSAGE.match(body))) == (400, True)


def test_jwks_lists_both_keys_during_the_grace_and_only_the_new_one_after(
    sandbox_catalog: Catalog, actor: Actor, client: Client, clock: TimeMachineFixture
) -> None:
    old_kid = certificate_kid(binding("1.0.0").profile.keystore.certificate_pem)
    assert jwks_kids(client) == {old_kid}

    demo_profile_rotate(sandbox_catalog, actor)
    new_kid = certificate_kid(binding("1.0.1").profile.keystore.certificate_pem)

    assert jwks_kids(client) == {old_kid, new_kid}
    clock_after(clock, seconds=60)
    lifecycle_tick(actor=actor)
    assert jwks_kids(client) == {new_kid}


def test_grace_shorter_than_the_longest_token_validity_is_refused_and_changes_nothing(
    sandbox_catalog: Catalog, actor: Actor
) -> None:
    before = counts()

    with pytest.raises(RotationError) as caught:
        demo_profile_rotate(sandbox_catalog, actor, grace=timedelta(seconds=59))

    assert str(caught.value) == (
        "The grace period 59 s is shorter than 60 s, the longest token validity among the APIs that sign with or "
        "encrypt to jwt-keyprofile 1.0.0: tokens minted just before the rotation would fail."
    )
    assert counts() == before


def test_grace_equal_to_the_longest_token_validity_is_accepted(sandbox_catalog: Catalog, actor: Actor) -> None:
    plan = demo_profile_rotate(sandbox_catalog, actor, grace=timedelta(seconds=60))

    assert (plan.grace, plan.minimum_grace) == (timedelta(seconds=60), timedelta(seconds=60))
    assert binding("1.0.1").state == State.ACTIVE


def test_minimum_grace_is_the_longest_validity_among_the_apis_that_sign_with_the_key(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor
) -> None:
    """A second API signing with the same key for 300 s raises the minimum; one signing with another does not."""
    api = Api.objects.get(name=API_NAME)
    longer = variant(api.document, name="long-lived", base_path="/long", exp=300)
    document_publish(longer, sandbox_catalog, actor)

    with pytest.raises(RotationError, match="shorter than 300 s"):
        demo_profile_rotate(sandbox_catalog, actor, grace=timedelta(seconds=299))
    plan = demo_profile_rotate(sandbox_catalog, actor, dry_run=True)

    assert plan.minimum_grace == timedelta(seconds=300)
    assert plan.apis == ["jwt-generation-and-validation 1.0.0", "long-lived 1.0.0"]


def test_taken_profile_version_is_refused_and_changes_nothing(sandbox_catalog: Catalog, actor: Actor) -> None:
    before = counts()

    with pytest.raises(RotationError, match=r"^Version 1\.0\.0 of 'jwt-keyprofile' exists already; choose another"):
        demo_profile_rotate(sandbox_catalog, actor, new_version="1.0.0")

    assert counts() == before


def test_a_free_profile_version_may_be_chosen(sandbox_catalog: Catalog, actor: Actor) -> None:
    plan = demo_profile_rotate(sandbox_catalog, actor, new_version="2.0.0")

    assert plan.new_version == "2.0.0"
    assert sorted(binding("2.0.0").crypto_objects.values_list("name", flat=True)) == [
        "personal_sandbox_tlsp-jwt-keyprofileV2.0.0-ca-0",
        "personal_sandbox_tlsp-jwt-keyprofileV2.0.0-key",
    ]


def test_a_version_that_is_not_semver_is_refused_and_changes_nothing(sandbox_catalog: Catalog, actor: Actor) -> None:
    before = counts()

    with pytest.raises(ValidationError, match=re.escape("is not a version of the form MAJOR.MINOR.PATCH")):
        demo_profile_rotate(sandbox_catalog, actor, new_version="2.0")

    assert counts() == before


def test_dry_run_returns_the_plan_and_changes_nothing(sandbox_catalog: Catalog, actor: Actor) -> None:
    before = counts()

    plan = demo_profile_rotate(sandbox_catalog, actor, dry_run=True, grace=timedelta(minutes=5))

    assert counts() == before
    assert plan.dry_run
    assert (plan.old_version, plan.new_version, plan.grace) == ("1.0.0", "1.0.1", timedelta(minutes=5))
    assert plan.apis == ["jwt-generation-and-validation 1.0.0"]
    assert plan.renames == {KEY_OBJECT: NEW_KEY_OBJECT, CERT_OBJECT: NEW_CERT_OBJECT}
    assert plan.grace_ends_at == INSTANT + timedelta(minutes=5)


# -- pre-publication ---------------------------------------------------------------------------------------------


def test_prepublished_version_is_in_the_jwks_but_does_not_sign_until_its_time(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor, client: Client, clock: TimeMachineFixture
) -> None:
    old_kid = token_kid(gateway_generate(client, demo.client_id))
    revision = publication().revision

    plan = demo_profile_rotate(sandbox_catalog, actor, prepublish=timedelta(hours=1), grace=timedelta(minutes=10))

    new = binding("1.0.1")
    new_kid = certificate_kid(new.profile.keystore.certificate_pem)
    assert (new.state, new.activates_at, new.pending_grace) == (
        State.NEXT,
        INSTANT + timedelta(hours=1),
        timedelta(minutes=10),
    )
    assert plan.activates_at == INSTANT + timedelta(hours=1)
    assert plan.grace_ends_at == INSTANT + timedelta(hours=1, minutes=10)
    assert binding("1.0.0").state == State.ACTIVE
    assert jwks_kids(client) == {old_kid, new_kid}
    assert token_kid(gateway_generate(client, demo.client_id)) == old_kid
    assert publication().revision == revision
    assert jws_cryptos(publication().document) == [KEY_OBJECT, CERT_OBJECT]

    # One second early: nothing moves.
    clock_after(clock, seconds=3599)
    assert lifecycle_tick(actor=actor).activated == []
    assert token_kid(gateway_generate(client, demo.client_id)) == old_kid

    # Its time has come: it signs, the API moved, the old version is passive for the grace it was given.
    clock_after(clock, seconds=3600)
    early_token = gateway_generate(client, demo.client_id)
    report = lifecycle_tick(actor=actor)

    assert report.activated == ["jwt-keyprofile 1.0.1 in personal/sandbox"]
    assert binding("1.0.1").state == State.ACTIVE
    old = binding("1.0.0")
    assert (old.state, old.grace_ends_at) == (State.PASSIVE, INSTANT + timedelta(hours=1, minutes=10))
    assert token_kid(gateway_generate(client, demo.client_id)) == new_kid
    assert publication().revision == revision + 1
    assert jws_cryptos(publication().document) == [NEW_KEY_OBJECT, NEW_CERT_OBJECT]
    assert gateway_validate(client, demo.client_id, early_token)[0] == 200
    assert jwks_kids(client) == {old_kid, new_kid}


def test_tick_activates_and_retires_only_once(
    sandbox_catalog: Catalog, actor: Actor, clock: TimeMachineFixture
) -> None:
    demo_profile_rotate(sandbox_catalog, actor, prepublish=timedelta(minutes=1))
    clock_after(clock, seconds=60)
    assert lifecycle_tick(actor=actor).activated == ["jwt-keyprofile 1.0.1 in personal/sandbox"]
    assert lifecycle_tick(actor=actor).activated == []
    clock_after(clock, seconds=120)
    assert lifecycle_tick(actor=actor).retired == ["jwt-keyprofile 1.0.0 in personal/sandbox"]
    assert lifecycle_tick(actor=actor).retired == []


def test_tick_dry_run_reports_without_changing(
    sandbox_catalog: Catalog, actor: Actor, clock: TimeMachineFixture
) -> None:
    demo_profile_rotate(sandbox_catalog, actor, prepublish=timedelta(minutes=1))
    clock_after(clock, seconds=60)

    report = lifecycle_tick(actor=actor, dry_run=True)

    assert report.activated == ["jwt-keyprofile 1.0.1 in personal/sandbox"]
    assert binding("1.0.1").state == State.NEXT


def test_second_rotation_while_one_is_pending_is_refused(sandbox_catalog: Catalog, actor: Actor) -> None:
    demo_profile_rotate(sandbox_catalog, actor, prepublish=timedelta(days=1))
    before = counts()

    with pytest.raises(
        RotationError,
        match="^A rotation of 'jwt-keyprofile' is already pending in personal/sandbox: "
        r"version 1\.0\.1 starts signing at 2030-01-02 12:00:00 UTC\.$",
    ):
        demo_profile_rotate(sandbox_catalog, actor)

    assert counts() == before


def test_second_rotation_after_the_first_took_effect_is_allowed(
    sandbox_catalog: Catalog, actor: Actor, clock: TimeMachineFixture
) -> None:
    demo_profile_rotate(sandbox_catalog, actor, prepublish=timedelta(days=1))
    clock_after(clock, seconds=86400)
    lifecycle_tick(actor=actor)

    plan = demo_profile_rotate(sandbox_catalog, actor)

    assert (plan.old_version, plan.new_version) == ("1.0.1", "1.0.2")
    assert binding("1.0.2").state == State.ACTIVE
    assert binding("1.0.1").state == State.PASSIVE
    assert jws_cryptos(publication().document) == [
        "personal_sandbox_tlsp-jwt-keyprofileV1.0.2-key",
        "personal_sandbox_tlsp-jwt-keyprofileV1.0.2-ca-0",
    ]


def test_rotating_again_during_the_grace_keeps_every_unretired_version_verifying(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor, client: Client, clock: TimeMachineFixture
) -> None:
    first = gateway_generate(client, demo.client_id)
    demo_profile_rotate(sandbox_catalog, actor)
    clock_after(clock, seconds=10)
    second = gateway_generate(client, demo.client_id)
    demo_profile_rotate(sandbox_catalog, actor)
    clock_after(clock, seconds=20)
    third = gateway_generate(client, demo.client_id)

    assert len({token_kid(first), token_kid(second), token_kid(third)}) == 3
    assert [gateway_validate(client, demo.client_id, t)[0] for t in (first, second, third)] == [200, 200, 200]
    assert [binding(v).state for v in ("1.0.0", "1.0.1", "1.0.2")] == [State.PASSIVE, State.PASSIVE, State.ACTIVE]


# -- where the new key comes from --------------------------------------------------------------------------------


def test_rotation_to_an_existing_keystore_uses_it(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor, client: Client
) -> None:
    organization = sandbox_catalog.organization
    chosen = keyprofile_services.keystore_import(
        organization=organization,
        name="Prepared",
        certificate=fx.CERT2_PEM.encode(),
        private_key=fx.KEY2_PEM.encode(),
        actor=actor,
    )
    keystores = Keystore.objects.count()

    plan = demo_profile_rotate(sandbox_catalog, actor, source=KeySource(keystore=chosen))

    assert plan.key_source == "keystore 'Prepared'"
    assert Keystore.objects.count() == keystores
    assert binding("1.0.1").profile.keystore == chosen
    assert token_kid(gateway_generate(client, demo.client_id)) == certificate_kid(chosen.certificate_pem)


def test_rotation_to_a_keystore_of_another_kind_is_refused_and_changes_nothing(
    sandbox_catalog: Catalog, actor: Actor
) -> None:
    secret = keyprofile_services.keystore_secret_create(
        organization=sandbox_catalog.organization, name="A secret", actor=actor
    )
    before = counts()

    with pytest.raises(RotationError, match=r"^Keystore 'A secret' is not of the same kind as 'JWT Keystore'\.$"):
        demo_profile_rotate(sandbox_catalog, actor, source=KeySource(keystore=secret))

    assert counts() == before


def test_rotation_to_another_organizations_keystore_is_refused(sandbox_catalog: Catalog, actor: Actor) -> None:
    other = organization_create(slug="other", title="Other")
    foreign = keyprofile_services.keystore_import(
        organization=other,
        name="Foreign",
        certificate=fx.CERT2_PEM.encode(),
        private_key=fx.KEY2_PEM.encode(),
        actor=actor,
    )
    before = counts()

    with pytest.raises(RotationError, match=r"^Keystore 'Foreign' belongs to another organization\.$"):
        demo_profile_rotate(sandbox_catalog, actor, source=KeySource(keystore=foreign))

    assert counts() == before


def test_rotation_to_a_key_the_moved_api_cannot_sign_with_changes_nothing(
    sandbox_catalog: Catalog, actor: Actor
) -> None:
    """An EC key cannot serve the demo's RS256 policy: republishing refuses, and the whole rotation rolls back
    (the command and the console do not yet turn this refusal into a message: see test_rotation_commands.py)."""
    ec = keyprofile_services.keystore_import(
        organization=sandbox_catalog.organization,
        name="EC",
        certificate=fx.EC256_CERT_PEM.encode(),
        private_key=fx.EC256_KEY_PEM.encode(),
        actor=actor,
    )
    before = counts()

    with pytest.raises(RotationError, match="signs with RS256, which does not fit the EC key of 'EC'"):
        demo_profile_rotate(sandbox_catalog, actor, source=KeySource(keystore=ec))

    assert counts() == before


def test_rotation_to_an_uploaded_certificate_and_key(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor, client: Client
) -> None:
    plan = demo_profile_rotate(
        sandbox_catalog,
        actor,
        source=KeySource(certificate=fx.CERT2_PEM.encode(), private_key=fx.KEY2_PEM.encode()),
    )

    keystore = binding("1.0.1").profile.keystore
    assert plan.key_source == "uploaded certificate and key"
    assert (keystore.name, keystore.source, keystore.subject) == (
        "JWT Keystore 1.0.1",
        Keystore.Source.PEM,
        "CN=other.example",
    )
    assert token_kid(gateway_generate(client, demo.client_id)) == certificate_kid(keystore.certificate_pem)


def test_rotation_to_an_uploaded_key_that_does_not_match_is_refused_and_changes_nothing(
    sandbox_catalog: Catalog, actor: Actor
) -> None:
    before = counts()

    with pytest.raises(KeyMaterialError):
        demo_profile_rotate(
            sandbox_catalog,
            actor,
            source=KeySource(certificate=fx.CERT2_PEM.encode(), private_key=fx.KEY1_PEM.encode()),
        )

    assert counts() == before


def test_rotation_to_an_uploaded_passphrase_protected_key(sandbox_catalog: Catalog, actor: Actor) -> None:
    demo_profile_rotate(
        sandbox_catalog,
        actor,
        source=KeySource(
            certificate=fx.CERT1_PEM.encode(),
            private_key=fx.KEY1_ENCRYPTED_PEM.encode(),
            password=fx.KEY1_PASSPHRASE,
        ),
    )

    assert binding("1.0.1").profile.keystore.subject == "CN=test.example"


def test_rotation_with_other_rsa_bits(sandbox_catalog: Catalog, actor: Actor) -> None:
    plan = demo_profile_rotate(sandbox_catalog, actor, source=KeySource(bits=3072))

    assert plan.key_source == "generated like the current key (RSA 3072)"
    assert binding("1.0.1").profile.keystore.key_size == 3072


# -- refusals ---------------------------------------------------------------------------------------------------


def test_profile_without_an_active_version_is_refused(sandbox_catalog: Catalog, actor: Actor) -> None:
    with pytest.raises(
        RotationError, match=r"^Key profile 'no-such-profile' has no active version in personal/sandbox\.$"
    ):
        demo_profile_rotate(sandbox_catalog, actor, name="no-such-profile")


def test_profile_not_enabled_in_the_catalog_is_refused(demo: DemoSummary, actor: Actor) -> None:
    production = Catalog.objects.get(organization__slug="personal", slug="production")

    with pytest.raises(
        RotationError, match=r"^Key profile 'jwt-keyprofile' has no active version in personal/production\.$"
    ):
        demo_profile_rotate(production, actor)


def test_profile_whose_versions_are_all_retired_is_refused(sandbox_catalog: Catalog, actor: Actor) -> None:
    lifecycle.binding_transition(binding=binding("1.0.0"), state=State.RETIRED, actor=actor)

    with pytest.raises(RotationError, match="has no active version"):
        demo_profile_rotate(sandbox_catalog, actor)


def test_truststore_only_profile_is_refused(sandbox_catalog: Catalog, actor: Actor) -> None:
    organization = sandbox_catalog.organization
    truststore = keyprofile_services.truststore_import(
        organization=organization, name="Partners", data=fx.CERT2_PEM.encode(), actor=actor
    )
    keyprofile_services.keyprofile_create(
        organization=organization,
        title="Partner Certs",
        truststore=truststore,
        catalogs=[sandbox_catalog],
        actor=actor,
    )

    with pytest.raises(RotationError, match=r"^partner-certs 1\.0\.0 has no keystore: there is no key to rotate\.$"):
        demo_profile_rotate(sandbox_catalog, actor, name="partner-certs")


def test_signing_with_a_passive_key_is_refused_at_publish(sandbox_catalog: Catalog, actor: Actor) -> None:
    demo_profile_rotate(sandbox_catalog, actor)
    stale = variant(document_load(API_DOCUMENT.read_bytes()), name="stale-signer", base_path="/stale")

    with pytest.raises(PolicyConfigError) as caught:
        document_publish(stale, sandbox_catalog, actor)

    assert caught.value.prop == "jws-crypto"
    assert "jwt-generate policy 'jwt-generate', property 'jws-crypto'" in str(caught.value)
    assert "jwt-keyprofile 1.0.0 which is passive in personal/sandbox; only an active version signs" in str(
        caught.value
    )
    assert not Publication.objects.filter(api__name="stale-signer").exists()


def test_signing_with_the_active_key_and_verifying_with_the_passive_one_publishes(
    sandbox_catalog: Catalog, actor: Actor
) -> None:
    """The twin of the refusal above: only signing needs the active version; a passive one still verifies."""
    demo_profile_rotate(sandbox_catalog, actor)
    document = variant(document_load(API_DOCUMENT.read_bytes()), name="fresh-signer", base_path="/fresh")
    swap_crypto(document, {KEY_OBJECT: NEW_KEY_OBJECT})  # validate keeps naming the passive 1.0.0 certificate

    published = document_publish(document, sandbox_catalog, actor)

    assert jws_cryptos(published.document) == [NEW_KEY_OBJECT, CERT_OBJECT]


def test_refusal_quotes_the_crypto_object_name_whole(sandbox_catalog: Catalog, actor: Actor) -> None:
    demo_profile_rotate(sandbox_catalog, actor)
    stale = variant(document_load(API_DOCUMENT.read_bytes()), name="stale-signer", base_path="/stale")

    with pytest.raises(PolicyConfigError) as caught:
        document_publish(stale, sandbox_catalog, actor)

    assert f"'{KEY_OBJECT}' belongs to jwt-keyprofile 1.0.0" in str(caught.value)


# -- other key types --------------------------------------------------------------------------------------------


@pytest.fixture
def sandbox_only(db: None, clock: TimeMachineFixture, sandbox: Catalog) -> Catalog:
    """The sandbox without the demo: for profiles of other key types."""
    return sandbox


def other_key_type_api(catalog: Catalog, actor: Actor, *, profile: str, alg: str, certificate_suffix: str) -> str:
    """Publish the demo API under /other, signing with ``profile``'s key; returns the test app's client id."""
    prefix = f"personal_sandbox_tlsp-{profile}V1.0.0"
    document = variant(
        document_load(API_DOCUMENT.read_bytes()),
        name="other-key-type",
        base_path="/other",
        key=f"{prefix}-key",
        certificate=f"{prefix}-{certificate_suffix}",
        alg=alg,
    )
    document_publish(document, catalog, actor)
    return services.sandbox_test_app(catalog=catalog, actor=actor).client_id


@pytest.mark.parametrize(
    ("make_keystore", "alg", "certificate_suffix"),
    [
        pytest.param(
            lambda org, actor: keyprofile_services.keystore_generate(
                organization=org,
                name="Keys",
                common_name="ec.demo.local",
                key_type="EC",
                curve="P-384",
                days=90,
                actor=actor,
            ),
            "ES384",
            "ca-0",
            id="ec-p384",
        ),
        pytest.param(
            lambda org, actor: keyprofile_services.keystore_secret_create(organization=org, name="Keys", actor=actor),
            "HS256",
            "key",  # a shared secret has no certificate: validate names the secret itself
            id="shared-secret",
        ),
    ],
)
def test_ec_and_shared_secret_profiles_rotate_too(
    sandbox_only: Catalog,
    actor: Actor,
    client: Client,
    clock: TimeMachineFixture,
    make_keystore: Any,
    alg: str,
    certificate_suffix: str,
) -> None:
    organization: Organization = sandbox_only.organization
    keystore = make_keystore(organization, actor)
    keyprofile_services.keyprofile_create(
        organization=organization, title="Other Keys", keystore=keystore, catalogs=[sandbox_only], actor=actor
    )
    client_id = other_key_type_api(
        sandbox_only, actor, profile="other-keys", alg=alg, certificate_suffix=certificate_suffix
    )
    base = "/personal/sandbox/other"
    before = gateway_generate(client, client_id, base)

    plan = demo_profile_rotate(sandbox_only, actor, name="other-keys")
    clock_after(clock, seconds=30)

    new_keystore = binding("1.0.1", name="other-keys").profile.keystore
    assert (new_keystore.kind, new_keystore.key_type, new_keystore.key_size, new_keystore.curve) == (
        keystore.kind,
        keystore.key_type,
        keystore.key_size,
        keystore.curve,
    )
    assert plan.apis == ["other-key-type 1.0.0"]
    assert plan.grace == timedelta(seconds=60)
    after = gateway_generate(client, client_id, base)
    assert token_kid(after) != token_kid(before)
    assert segment(after, 0)["alg"] == alg
    assert gateway_validate(client, client_id, before, base)[0] == 200
    assert gateway_validate(client, client_id, after, base)[0] == 200

    clock_after(clock, seconds=60)
    lifecycle_tick(actor=actor)

    status, body = gateway_validate(client, client_id, before, base)
    assert status == 400
    assert body.startswith("JWT validation failed, because the JWT was signed by a retired key (other-keys 1.0.0, kid ")
    assert gateway_validate(client, client_id, after, base)[0] == 200


def test_a_profile_can_be_rotated_again_and_again(sandbox_only: Catalog, actor: Actor) -> None:
    """The cron recipe rotates a profile every time its certificate nears expiry, for years."""
    organization = sandbox_only.organization
    keystore = keyprofile_services.keystore_generate(
        organization=organization, name="JWT Keystore", common_name="ec.demo.local", key_type="EC", actor=actor
    )
    keyprofile_services.keyprofile_create(
        organization=organization, title="EC Keys", keystore=keystore, catalogs=[sandbox_only], actor=actor
    )

    for n in range(1, 21):
        plan = demo_profile_rotate(sandbox_only, actor, name="ec-keys")
        assert plan.new_version == f"1.0.{n}"

    newest = binding("1.0.20", name="ec-keys").profile.keystore
    assert newest.name.endswith("1.0.20")
    assert len(newest.name) <= 40


def test_rotation_keeps_a_deprecated_api_deprecated(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor, client: Client
) -> None:
    services.publication_set_state(publication=publication(), state=Publication.State.DEPRECATED, actor=actor)

    demo_profile_rotate(sandbox_catalog, actor)

    assert jws_cryptos(publication().document) == [NEW_KEY_OBJECT, NEW_CERT_OBJECT]
    assert publication().state == Publication.State.DEPRECATED


def test_rotation_keeps_a_published_api_published(sandbox_catalog: Catalog, actor: Actor) -> None:
    """The twin of the deprecated case."""
    demo_profile_rotate(sandbox_catalog, actor)

    assert publication().state == Publication.State.PUBLISHED


def test_rotation_leaves_retired_publications_alone(sandbox_catalog: Catalog, actor: Actor) -> None:
    services.publication_set_state(publication=publication(), state=Publication.State.RETIRED, actor=actor)
    before = publication()

    plan = demo_profile_rotate(sandbox_catalog, actor)

    after = publication()
    assert plan.apis == []
    assert (after.state, after.revision, after.document_text) == (
        Publication.State.RETIRED,
        before.revision,
        before.document_text,
    )


# -- several processes: each sees the rotation within RECHECK_SECONDS ------------------------------------------


def test_a_worker_that_has_not_seen_the_rotation_yet_still_accepts_tokens_of_the_old_key(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor, client: Client, workers: tuple[FakeMonotonic, Any]
) -> None:
    """The other direction of the race below works: the stale worker mints with the old key, which the fresh
    worker accepts, since the old version is passive."""
    clock, on = workers
    stale = Gateway()
    on(stale)
    gateway_generate(client, demo.client_id)
    demo_profile_rotate(sandbox_catalog, actor)
    clock.now += 0.5
    old_token = gateway_generate(client, demo.client_id)  # not looked again yet: still the old key
    assert token_kid(old_token) == certificate_kid(binding("1.0.0").profile.keystore.certificate_pem)

    on(Gateway())  # a worker that (re)started after the rotation
    assert gateway_validate(client, demo.client_id, old_token)[0] == 200


def test_a_stale_worker_accepts_the_new_key_once_it_looked_again(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor, client: Client, workers: tuple[FakeMonotonic, Any]
) -> None:
    """RECHECK_SECONDS later, the stale worker has looked again."""
    clock, on = workers
    stale, fresh = Gateway(), Gateway()
    on(stale)
    gateway_validate(client, demo.client_id, gateway_generate(client, demo.client_id))
    demo_profile_rotate(sandbox_catalog, actor)
    on(fresh)
    new_token = gateway_generate(client, demo.client_id)
    assert token_kid(new_token) == certificate_kid(binding("1.0.1").profile.keystore.certificate_pem)

    clock.now += 1.0
    on(stale)
    assert gateway_validate(client, demo.client_id, new_token)[0] == 200


def test_a_worker_that_has_not_seen_the_rotation_yet_accepts_the_new_key(
    sandbox_catalog: Catalog,
    demo: DemoSummary,
    actor: Actor,
    client: Client,
    workers: tuple[FakeMonotonic, Any],
    monkeypatch: pytest.MonkeyPatch,
    settings: LazySettings,
) -> None:
    """The race a rotation must not lose: a worker that last looked at the configuration less than
    RECHECK_SECONDS ago meets a token another worker already signs with the new key. The rotation commits the
    new version as next first and waits ``propagation_seconds`` before it signs, so every worker that looked
    during the wait already verifies with it."""
    clock, on = workers
    stale, fresh = Gateway(), Gateway()
    on(stale)
    old_token = gateway_generate(client, demo.client_id)
    gateway_validate(client, demo.client_id, old_token)  # warm, as under traffic
    settings.PORTAL_INVALIDATION = {**settings.PORTAL_INVALIDATION, "PROPAGATION_SECONDS": None}  # the real wait

    def wait(seconds: float) -> None:
        assert seconds >= 2 * invalidation.recheck_seconds()
        clock.now += seconds - 0.5
        on(stale)  # the stale worker serves during the wait: it looks again, and learns the next key
        assert gateway_validate(client, demo.client_id, old_token)[0] == 200
        clock.now += 0.5

    monkeypatch.setattr(rotation, "wait_for_propagation", wait)
    demo_profile_rotate(sandbox_catalog, actor)
    on(fresh)
    new_token = gateway_generate(client, demo.client_id)
    assert token_kid(new_token) == certificate_kid(binding("1.0.1").profile.keystore.certificate_pem)

    clock.now += 0.2  # within the stale worker's RECHECK_SECONDS: it does not look again
    on(stale)
    status, body = gateway_validate(client, demo.client_id, new_token)

    assert status == 200, body


def test_bits_for_a_profile_that_is_not_rsa_is_refused_even_in_a_dry_run(
    sandbox_catalog: Catalog, actor: Actor
) -> None:
    ec_keystore = keyprofile_services.keystore_generate(
        organization=sandbox_catalog.organization,
        name="EC Keystore",
        common_name="ec.example",
        key_type="EC",
        actor=actor,
    )
    keyprofile_services.keyprofile_create(
        organization=sandbox_catalog.organization,
        title="EC Keyprofile",
        keystore=ec_keystore,
        catalogs=[sandbox_catalog],
        actor=actor,
    )
    with pytest.raises(RotationError, match="--bits sets an RSA key size"):
        demo_profile_rotate(sandbox_catalog, actor, name="ec-keyprofile", source=KeySource(bits=3072), dry_run=True)
    # Its twin without --bits plans fine.
    assert demo_profile_rotate(sandbox_catalog, actor, name="ec-keyprofile", dry_run=True).new_version == "1.0.1"


def _assembly_document(assembly: dict[str, Any]) -> dict[str, Any]:
    return {"x-ibm-configuration": {"assembly": assembly}}


def test_rotation_renames_the_keys_of_policies_at_any_depth_and_nothing_else() -> None:
    """Policies in an operationId case, in otherwise and in a catch move to the new key; a mapping that only
    looks like a policy (inside a set-variable value) is data, and keeps its text."""
    old, new = "org_cat_tlsp-pV1.0.0-key", "org_cat_tlsp-pV1.0.1-key"
    look_alike = {"jwt-generate": {"jws-crypto": old}}
    document = _assembly_document(
        {
            "execute": [
                {"set-variable": {"actions": [{"set": "x", "value": look_alike, "type": "object"}]}},
                {
                    "operation-switch": {
                        "case": [{"operations": ["gen"], "execute": [{"jwt-generate": {"jws-crypto": old}}]}],
                        "otherwise": [{"jwt-validate": {"jws-crypto": old}}],
                    }
                },
            ],
            "catch": [{"default": [{"jwt-generate": {"jws-crypto": old, "exp-claim": 90}}]}],
        }
    )
    renamed = rotation.document_with_renamed_keys(document, {old: new})

    assert renamed is not None
    assembly = renamed["x-ibm-configuration"]["assembly"]
    switch = assembly["execute"][1]["operation-switch"]
    assert switch["case"][0]["execute"][0]["jwt-generate"]["jws-crypto"] == new
    assert switch["otherwise"][0]["jwt-validate"]["jws-crypto"] == new
    assert assembly["catch"][0]["default"][0]["jwt-generate"]["jws-crypto"] == new
    assert assembly["execute"][0]["set-variable"]["actions"][0]["value"] == look_alike
    assert document["x-ibm-configuration"]["assembly"]["catch"][0]["default"][0]["jwt-generate"]["jws-crypto"] == old
    # Its twin naming no old key changes nothing.
    assert rotation.document_with_renamed_keys(document, {"another-key": new}) is None


def test_the_longest_validity_counts_only_policies_signing_with_or_encrypting_to_the_keys() -> None:
    key, certificate = "org_cat_tlsp-pV1.0.0-key", "org_cat_tlsp-pV1.0.0-ca-0"
    document = _assembly_document(
        {
            "execute": [
                {"jwt-generate": {"jws-crypto": key}},
                {"jwt-generate": {"jws-crypto": "other-key", "exp-claim": 9000}},
                {
                    "set-variable": {
                        "actions": [{"set": "x", "value": {"jwt-generate": {"jws-crypto": key, "exp-claim": 7200}}}]
                    }
                },
                {"jwt-generate": {"jws-crypto": "third-key", "jwe-crypto": certificate, "exp-claim": 4000}},
                {"jwt-validate": {"jws-crypto": "third-key", "jwe-crypto": key}},
                {"jwt-generate": {"jws-crypto": "fourth-key", "jwe-crypto": [key], "exp-claim": 50000}},  # not a name
            ],
            "catch": [{"errors": ["E"], "execute": [{"jwt-generate": {"jws-crypto": key, "exp-claim": "120"}}]}],
        }
    )
    assert rotation._token_validity(document, {key}) == 3600  # the default beats the catch's 120
    assert rotation._token_validity(document, {key, certificate}) == 4000  # encrypted to the old certificate
    assert rotation._token_validity(document, {"other-key"}) == 9000
    assert rotation._token_validity(document, {"unused-key"}) is None
