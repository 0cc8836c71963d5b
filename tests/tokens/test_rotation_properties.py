"""Rotation of a key profile that APIs name through API properties (``jws-crypto: $(signing-key)``).

An API naming the rotated key through a property is treated like one naming it literally: the plan lists it,
its token validity counts toward the grace period, it is checked against the new key, and at activation the
property's value moves to the new crypto object where it lives (the document's default, the document's value
for the catalog, or the operator's value in the catalog). The demo of DESIGN.md section 1 (naming its keys
literally) is served beside it, and both are driven through the gateway with the Django test client.

Also here: a jwt-generate that signs with a JWK (``jws-jwk``) but encrypts to the rotated profile's certificate
(``jwe-crypto``) makes tokens the old key must decrypt until they expire, so its validity counts too.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from time_machine import TimeMachineFixture

from keyprofiles.models import KeyProfileBinding
from portal.models import AuditEvent, Catalog
from portal.services import Actor
from tests.tokens.helpers import (
    CERT_OBJECT,
    DEMO_BASE,
    KEY_OBJECT,
    NEW_CERT_OBJECT,
    NEW_KEY_OBJECT,
    clock_after,
    demo_profile_rotate,
    demo_variant,
    gateway_generate,
    gateway_validate,
    jwt_policies,
    oct_jwk,
    segment,
    token_kid,
)
from tests.tokens.test_rotation_jwe import version_kid
from tokens.demo import DemoSummary
from tokens.models import Api, ApiPropertyValue, Publication
from tokens.properties import api_property_set
from tokens.rotation import RotationError, lifecycle_tick
from tokens.services import api_publish, api_save

pytestmark = pytest.mark.usefixtures("recheck_always")

NAME = "keyed-by-property"
BY_PROPERTY = "/personal/sandbox/byproperty"
VALIDITY = 300  # longer than the demo's 60 s, so the grace shows whether it counts
PRODUCTION_KEY = "personal_production_tlsp-jwt-keyprofileV1.0.0-key"
PRODUCTION_CA = "personal_production_tlsp-jwt-keyprofileV1.0.0-ca-0"
PLACES = ("default", "catalog", "operator")
JWK_SIGNER = "/personal/sandbox/jwksigner"


@pytest.fixture
def sandbox_catalog(clock: TimeMachineFixture, demo: DemoSummary) -> Catalog:
    """The sandbox once the demo (fixed key 1, named literally) is published in it."""
    return Catalog.objects.get(organization__slug="personal", slug="sandbox")


def property_document(place: str) -> dict[str, Any]:
    """The demo API as NAME at /byproperty, valid VALIDITY seconds, naming its key and certificate through the
    properties ``signing-key`` and ``verifying-certificate`` whose sandbox values live in ``place``."""
    document = demo_variant(name=NAME, base_path="/byproperty")
    for kind, properties in jwt_policies(document):
        if kind == "jwt-generate":
            properties.update({"jws-crypto": "$(signing-key)", "exp-claim": VALIDITY})
        else:
            properties["jws-crypto"] = "$(verifying-certificate)"
    configuration = document["x-ibm-configuration"]
    sandbox_values = {"signing-key": KEY_OBJECT, "verifying-certificate": CERT_OBJECT}
    if place == "default":
        configuration["properties"] = {name: {"value": value} for name, value in sandbox_values.items()}
    elif place == "catalog":
        # The default names production's objects; sandbox's own value wins there.
        configuration["properties"] = {
            "signing-key": {"value": PRODUCTION_KEY},
            "verifying-certificate": {"value": PRODUCTION_CA},
        }
        configuration["catalogs"] = {"sandbox": {"properties": sandbox_values}}
    else:
        configuration["properties"] = {name: {"description": "set per catalog"} for name in sandbox_values}
    return document


def publish_by_property(place: str, catalog: Catalog, actor: Actor) -> Publication:
    api, _ = api_save(organization=catalog.organization, document=property_document(place), actor=actor)
    if place == "operator":
        api_property_set(api=api, catalog=catalog, name="signing-key", value=KEY_OBJECT, actor=actor)
        api_property_set(api=api, catalog=catalog, name="verifying-certificate", value=CERT_OBJECT, actor=actor)
    return api_publish(api=api, catalog=catalog, actor=actor)


def sandbox_values(place: str) -> dict[str, Any]:
    """The values of the two properties where ``place`` keeps them: in the served snapshot and the API's draft
    for a document place (equal, or the test fails), in the operator's rows otherwise."""
    api = Api.objects.get(name=NAME)
    if place == "operator":
        return dict(ApiPropertyValue.objects.filter(api=api).values_list("name", "value"))
    snapshot = Publication.objects.get(api=api).document["x-ibm-configuration"]
    draft = api.document["x-ibm-configuration"]
    assert snapshot["properties"] == draft["properties"]
    assert snapshot.get("catalogs") == draft.get("catalogs")
    if place == "default":
        return {name: entry["value"] for name, entry in snapshot["properties"].items()}
    return dict(snapshot["catalogs"]["sandbox"]["properties"])


def state() -> dict[str, Any]:
    """What a rotation may change: key versions, documents, snapshots, property values, audit events."""
    return {
        "bindings": sorted(KeyProfileBinding.objects.values_list("profile__version", "state")),
        "documents": sorted(Api.objects.values_list("document_text", flat=True)),
        "snapshots": sorted(Publication.objects.values_list("revision", "document_text")),
        "values": sorted(ApiPropertyValue.objects.values_list("name", "value")),
        "events": AuditEvent.objects.count(),
    }


# -- the plan ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("place", PLACES)
def test_the_plan_lists_an_api_naming_the_key_through_a_property_and_counts_its_validity(
    place: str, sandbox_catalog: Catalog, actor: Actor
) -> None:
    publish_by_property(place, sandbox_catalog, actor)

    plan = demo_profile_rotate(sandbox_catalog, actor, dry_run=True)

    assert plan.apis == ["jwt-generation-and-validation 1.0.0", f"{NAME} 1.0.0"]
    assert plan.minimum_grace == timedelta(seconds=VALIDITY)
    with pytest.raises(RotationError, match=f"shorter than {VALIDITY} s"):
        demo_profile_rotate(sandbox_catalog, actor, grace=timedelta(seconds=VALIDITY - 1))


def test_a_property_naming_another_key_is_not_listed(sandbox_catalog: Catalog, actor: Actor) -> None:
    """The twin of the plan test: the same API whose sandbox value names another profile's key."""
    other = "personal_sandbox_tlsp-other-keyprofileV1.0.0-key"
    document = property_document("default")
    document["x-ibm-configuration"]["properties"]["signing-key"]["value"] = other
    document["x-ibm-configuration"]["properties"]["verifying-certificate"]["value"] = other
    api_save(organization=sandbox_catalog.organization, document=document, actor=actor)  # saved, not published

    plan = demo_profile_rotate(sandbox_catalog, actor, dry_run=True)

    assert plan.apis == ["jwt-generation-and-validation 1.0.0"]
    assert plan.minimum_grace == timedelta(seconds=60)


def test_a_dry_run_changes_nothing(sandbox_catalog: Catalog, actor: Actor) -> None:
    for place in ("default", "operator"):
        document = property_document(place)
        document["info"]["x-ibm-name"] = f"{NAME}-{place}"
        document["basePath"] = f"/{place}"
        api, _ = api_save(organization=sandbox_catalog.organization, document=document, actor=actor)
        if place == "operator":
            api_property_set(api=api, catalog=sandbox_catalog, name="signing-key", value=KEY_OBJECT, actor=actor)
            api_property_set(
                api=api, catalog=sandbox_catalog, name="verifying-certificate", value=CERT_OBJECT, actor=actor
            )
        api_publish(api=api, catalog=sandbox_catalog, actor=actor)
    before = state()

    plan = demo_profile_rotate(sandbox_catalog, actor, dry_run=True)

    assert plan.apis == ["jwt-generation-and-validation 1.0.0", f"{NAME}-default 1.0.0", f"{NAME}-operator 1.0.0"]
    assert state() == before


# -- activation -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("place", PLACES)
def test_after_activation_the_property_names_the_new_key_and_the_gateway_signs_with_it(
    place: str, sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor, client: Client, clock: TimeMachineFixture
) -> None:
    publish_by_property(place, sandbox_catalog, actor)
    old_kid = version_kid("1.0.0")
    before = gateway_generate(client, demo.client_id, BY_PROPERTY)
    assert token_kid(before) == old_kid
    served = Publication.objects.get(api__name=NAME)

    plan = demo_profile_rotate(sandbox_catalog, actor)

    new_kid = version_kid("1.0.1")
    assert plan.apis == ["jwt-generation-and-validation 1.0.0", f"{NAME} 1.0.0"]
    assert sandbox_values(place) == {"signing-key": NEW_KEY_OBJECT, "verifying-certificate": NEW_CERT_OBJECT}
    after = gateway_generate(client, demo.client_id, BY_PROPERTY)
    assert token_kid(after) == new_kid
    # The literal-name demo beside it moved too.
    assert token_kid(gateway_generate(client, demo.client_id, DEMO_BASE)) == new_kid
    # Only the value moved: the policies still read the property. A document value is republished with the
    # snapshot; an operator's value leaves the snapshot as it was (the gateway recompiled it, as the kid shows).
    publication = Publication.objects.get(api__name=NAME)
    assert {p.get("jws-crypto") for _, p in jwt_policies(publication.document)} == {
        "$(signing-key)",
        "$(verifying-certificate)",
    }
    if place == "operator":
        assert (publication.revision, publication.document_text) == (served.revision, served.document_text)
        events = AuditEvent.objects.filter(action="api.property.set", object_id=str(publication.api_id))
        assert events.filter(actor=actor.name).count() == 4  # two set by the test, two moved by the rotation
    else:
        assert publication.revision == served.revision + 1
    if place == "catalog":
        defaults = publication.document["x-ibm-configuration"]["properties"]
        assert defaults["signing-key"]["value"] == PRODUCTION_KEY  # another catalog's value is left alone

    # Both tokens validate during the grace, and the API keeps answering once the old version retires.
    assert gateway_validate(client, demo.client_id, before, BY_PROPERTY)[0] == 200
    assert gateway_validate(client, demo.client_id, after, BY_PROPERTY)[0] == 200
    clock_after(clock, seconds=VALIDITY)
    assert lifecycle_tick(actor=actor).retired == ["jwt-keyprofile 1.0.0 in personal/sandbox"]
    latest = gateway_generate(client, demo.client_id, BY_PROPERTY)
    assert token_kid(latest) == new_kid
    status, body = gateway_validate(client, demo.client_id, latest, BY_PROPERTY)
    assert (status, json.loads(body)["iss"]) == (200, "apic")


def test_a_prepublished_rotation_moves_the_property_when_its_time_comes(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor, client: Client, clock: TimeMachineFixture
) -> None:
    publish_by_property("operator", sandbox_catalog, actor)
    old_kid = version_kid("1.0.0")

    demo_profile_rotate(sandbox_catalog, actor, prepublish=timedelta(hours=1))

    assert sandbox_values("operator") == {"signing-key": KEY_OBJECT, "verifying-certificate": CERT_OBJECT}
    assert token_kid(gateway_generate(client, demo.client_id, BY_PROPERTY)) == old_kid
    clock_after(clock, seconds=3600)
    lifecycle_tick(actor=actor)
    assert sandbox_values("operator") == {"signing-key": NEW_KEY_OBJECT, "verifying-certificate": NEW_CERT_OBJECT}
    assert token_kid(gateway_generate(client, demo.client_id, BY_PROPERTY)) == version_kid("1.0.1")


def test_a_key_name_built_from_parts_of_properties_is_refused(sandbox_catalog: Catalog, actor: Actor) -> None:
    """Rotation renames a property's value only when it is the whole crypto object name; a name built from
    parts would break when the old version retires, so the rotation is refused and nothing changes."""
    document = property_document("default")
    for kind, properties in jwt_policies(document):
        if kind == "jwt-generate":
            properties["jws-crypto"] = "personal_sandbox_tlsp-$(profile-and-version)-key"
    document["x-ibm-configuration"]["properties"]["profile-and-version"] = {"value": "jwt-keyprofileV1.0.0"}
    api, _ = api_save(organization=sandbox_catalog.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox_catalog, actor=actor)
    before = state()

    for dry_run in (True, False):
        with pytest.raises(RotationError, match=r"'personal_sandbox_tlsp-\$\(profile-and-version\)-key'"):
            demo_profile_rotate(sandbox_catalog, actor, dry_run=dry_run)

    assert state() == before


# -- jws-jwk with jwe-crypto --------------------------------------------------------------------------------------


def jwk_signing_document(*, encrypts: bool) -> dict[str, Any]:
    """An API whose jwt-generate signs HS256 with a JWK held in a property (``jws-jwk``), valid 900 s, and
    (``encrypts``) encrypts the token to the demo profile's certificate."""
    document = demo_variant(name="jwk-signer", base_path="/jwksigner")
    for kind, properties in jwt_policies(document):
        if kind == "jwt-generate":
            del properties["jws-crypto"]
            properties.update({"jws-alg": "HS256", "jws-jwk": "signing-jwk", "exp-claim": 900})
            if encrypts:
                properties.update({"jwe-crypto": CERT_OBJECT, "jwe-alg": "RSA-OAEP-256", "jwe-enc": "A256GCM"})
        else:
            del properties["jws-crypto"]
            properties["jws-jwk"] = "signing-jwk"
            if encrypts:
                properties["jwe-crypto"] = KEY_OBJECT
    document["x-ibm-configuration"]["properties"] = {"signing-jwk": {"value": json.dumps(oct_jwk())}}
    return document


def test_the_grace_counts_an_api_signing_with_a_jwk_and_encrypting_to_the_profile(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor, client: Client
) -> None:
    api, _ = api_save(
        organization=sandbox_catalog.organization, document=jwk_signing_document(encrypts=True), actor=actor
    )
    api_publish(api=api, catalog=sandbox_catalog, actor=actor)
    assert segment(gateway_generate(client, demo.client_id, JWK_SIGNER), 0)["alg"] == "RSA-OAEP-256"

    plan = demo_profile_rotate(sandbox_catalog, actor, dry_run=True)

    assert plan.minimum_grace == timedelta(seconds=900)
    assert plan.apis == ["jwk-signer 1.0.0", "jwt-generation-and-validation 1.0.0"]
    # Its twin encrypts to nothing: only the demo's 60 s count.
    api, _ = api_save(
        organization=sandbox_catalog.organization, document=jwk_signing_document(encrypts=False), actor=actor
    )
    api_publish(api=api, catalog=sandbox_catalog, actor=actor)
    plan = demo_profile_rotate(sandbox_catalog, actor, dry_run=True)
    assert (plan.minimum_grace, plan.apis) == (timedelta(seconds=60), ["jwt-generation-and-validation 1.0.0"])


def test_an_api_signing_with_a_jwk_encrypts_to_the_new_certificate_once_rotated(
    sandbox_catalog: Catalog, demo: DemoSummary, actor: Actor, client: Client, clock: TimeMachineFixture
) -> None:
    api, _ = api_save(
        organization=sandbox_catalog.organization, document=jwk_signing_document(encrypts=True), actor=actor
    )
    api_publish(api=api, catalog=sandbox_catalog, actor=actor)
    before = gateway_generate(client, demo.client_id, JWK_SIGNER)
    assert segment(before, 0)["kid"] == version_kid("1.0.0")

    plan = demo_profile_rotate(sandbox_catalog, actor)

    assert plan.grace == timedelta(seconds=900)
    after = gateway_generate(client, demo.client_id, JWK_SIGNER)
    assert segment(after, 0)["kid"] == version_kid("1.0.1")
    clock_after(clock, seconds=899)
    assert [gateway_validate(client, demo.client_id, token, JWK_SIGNER)[0] for token in (before, after)] == [200, 200]
