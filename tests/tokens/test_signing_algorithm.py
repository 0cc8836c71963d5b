"""One key, one algorithm (RFC 8725 section 3.1): the first publication that signs with a key fixes its
algorithm, publishing another algorithm with it is refused naming both, and the JWKS states it."""

from __future__ import annotations

import importlib
from typing import Any

import jwt
import pytest
from django.apps import apps
from django.test import Client

from keyprofiles.models import KeyProfile, Keystore
from portal.models import AuditEvent, Catalog
from portal.services import Actor
from tests.tokens.helpers import api_document, segment
from tokens.checks import check_publications
from tokens.errors import PolicyConfigError, PublishError
from tokens.services import api_compile_check, api_publish, api_save, app_create, app_subscribe

pytestmark = pytest.mark.usefixtures("recheck_always")

KEY = "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key"
JWKS = "/personal/sandbox/.well-known/jwks.json"


def signing_api(*algorithms: str, name: str = "signer", key: str = KEY) -> dict[str, Any]:
    """An API with one path per algorithm, each signing with ``key``."""
    document = api_document(name=name, base_path=f"/{name}", paths=tuple(f"/{alg.lower()}" for alg in algorithms))
    document["x-ibm-configuration"]["assembly"]["execute"] = [
        {
            "operation-switch": {
                "case": [
                    {
                        "operations": [{"verb": "get", "path": f"/{alg.lower()}"}],
                        "execute": [{"jwt-generate": {"jws-alg": alg, "jws-crypto": key, "exp-claim": 60}}],
                    }
                    for alg in algorithms
                ]
            }
        }
    ]
    return document


def publish(document: dict[str, Any], catalog: Catalog, actor: Actor) -> None:
    api, _ = api_save(organization=catalog.organization, document=document, actor=actor)
    api_publish(api=api, catalog=catalog, actor=actor)


def jwks_key(client: Client) -> dict[str, Any]:
    (key,) = client.get(JWKS).json()["keys"]
    return dict(key)


def test_the_jwks_states_the_natural_algorithm_until_a_publication_fixes_another(
    jwt_keyprofile: KeyProfile, sandbox: Catalog, actor: Actor, client: Client
) -> None:
    assert jwks_key(client)["alg"] == "RS256"

    publish(signing_api("PS384"), sandbox, actor)

    keystore = Keystore.objects.get(pk=jwt_keyprofile.keystore_id)
    assert keystore.algorithm == "PS384"
    assert jwks_key(client)["alg"] == "PS384"
    event = AuditEvent.objects.get(action="keystore.algorithm")
    assert event.detail == {"algorithm": "PS384", "reason": "published signer 1.0.0"}


def test_a_token_verifies_with_pyjwt_from_the_jwks_once_the_algorithm_is_fixed(
    jwt_keyprofile: KeyProfile, sandbox: Catalog, actor: Actor, client: Client
) -> None:
    publish(signing_api("PS256"), sandbox, actor)
    app, _ = app_create(catalog=sandbox, name="Caller", actor=actor)
    app_subscribe(app=app, publication=sandbox.publications.get(), actor=actor)

    response = client.get("/personal/sandbox/signer/ps256", headers={"X-IBM-Client-Id": app.client_id})

    token = response["Authorization"].removeprefix("Bearer ")
    key = jwks_key(client)
    assert segment(token, 0)["kid"] == key["kid"]
    # PyJWK takes the algorithm from the JWK's alg; a JWKS stating RS256 made PyJWT refuse this PS256 token.
    assert jwt.decode(token, jwt.PyJWK(key), algorithms=[key["alg"]])["exp"] > 0


def test_publishing_another_algorithm_with_a_fixed_key_is_refused_naming_both(
    jwt_keyprofile: KeyProfile, sandbox: Catalog, actor: Actor
) -> None:
    publish(signing_api("PS256"), sandbox, actor)

    with pytest.raises(PolicyConfigError) as refused:
        publish(signing_api("RS256", name="other"), sandbox, actor)

    assert "property 'jws-alg'" in str(refused.value)
    assert f"RS256 cannot sign with '{KEY}': its key signs with PS256 only" in str(refused.value)
    assert not sandbox.publications.filter(api__name="other").exists()


def test_publishing_the_fixed_algorithm_again_with_the_key_is_accepted(
    jwt_keyprofile: KeyProfile, sandbox: Catalog, actor: Actor
) -> None:
    # Twin of the test above: the same algorithm.
    publish(signing_api("PS256"), sandbox, actor)

    publish(signing_api("PS256", name="other"), sandbox, actor)

    assert sandbox.publications.filter(api__name="other").exists()
    assert AuditEvent.objects.filter(action="keystore.algorithm").count() == 1


def test_one_api_signing_with_one_key_in_two_algorithms_is_refused_and_fixes_nothing(
    jwt_keyprofile: KeyProfile, sandbox: Catalog, actor: Actor
) -> None:
    with pytest.raises(PublishError, match="signs with RS512 only \\(one key, one algorithm\\), not PS512"):
        publish(signing_api("RS512", "PS512"), sandbox, actor)

    assert Keystore.objects.get(pk=jwt_keyprofile.keystore_id).algorithm == ""
    assert not sandbox.publications.exists()


def test_the_compile_check_holds_a_policy_to_the_fixed_algorithm_without_fixing_one(
    jwt_keyprofile: KeyProfile, sandbox: Catalog, actor: Actor
) -> None:
    api_compile_check(document=signing_api("RS384"), catalog=sandbox)
    assert Keystore.objects.get(pk=jwt_keyprofile.keystore_id).algorithm == ""

    publish(signing_api("RS512"), sandbox, actor)

    with pytest.raises(PolicyConfigError, match="signs with RS512 only"):
        api_compile_check(document=signing_api("RS384"), catalog=sandbox)


def test_the_migration_gives_each_existing_key_the_algorithm_its_served_apis_sign_with(
    jwt_keyprofile: KeyProfile, ec_keyprofile: KeyProfile, hmac_keyprofile: KeyProfile, sandbox: Catalog, actor: Actor
) -> None:
    migration = importlib.import_module("tokens.migrations.0004_keystore_algorithms_from_publications")
    publish(signing_api("PS384"), sandbox, actor)
    Keystore.objects.update(algorithm="")  # as the rows were before keyprofiles 0004

    migration.fix_algorithms(apps, None)

    # The PS384 key had been announced as RS256; unused keys keep what the JWKS announced.
    assert dict(Keystore.objects.values_list("name", "algorithm")) == {
        "JWT Keystore": "PS384",
        "EC Keystore": "ES256",
        "HMAC Secret": "HS256",
    }


def test_the_migration_gives_a_key_used_with_two_algorithms_its_natural_one(
    jwt_keyprofile: KeyProfile, sandbox: Catalog, actor: Actor
) -> None:
    # Twin of the test above: two served APIs sign with the key in two algorithms (possible before the fix).
    migration = importlib.import_module("tokens.migrations.0004_keystore_algorithms_from_publications")
    publish(signing_api("PS384"), sandbox, actor)
    Keystore.objects.update(algorithm="")
    publish(signing_api("RS512", name="other"), sandbox, actor)
    Keystore.objects.update(algorithm="")

    migration.fix_algorithms(apps, None)

    assert Keystore.objects.get(name="JWT Keystore").algorithm == "RS256"


def test_a_served_api_signing_in_another_algorithm_than_its_keys_is_a_system_check_warning(
    jwt_keyprofile: KeyProfile, sandbox: Catalog, actor: Actor
) -> None:
    publish(signing_api("PS384"), sandbox, actor)
    assert check_publications(databases=["default"]) == []

    # As after an upgrade for a key two APIs used with two algorithms: the other one was kept.
    Keystore.objects.update(algorithm="RS512")
    (warning,) = check_publications(databases=["default"])

    assert warning.id == "tokens.W001"
    assert f"PS384 cannot sign with '{KEY}': its key signs with RS512 only" in warning.msg
