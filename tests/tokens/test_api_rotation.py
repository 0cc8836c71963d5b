"""Key rotation over REST: ``POST .../catalogs/{catalog}/key-profiles/{name}/rotate`` (operators only), its dry
run, a real rotation with and without pre-publication, and the refusals with their twins."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from keyprofiles.models import KeyProfile, KeyProfileBinding, Keystore
from keyprofiles.services import keystore_import, keystore_secret_create
from portal.models import AuditEvent, Organization
from portal.services import Actor
from tests.api import MakeKey, bearer
from tests.keyfixtures import CERT2_PEM, KEY2_PEM
from tests.tokens.helpers import HMAC_SECRET
from tests.tokens.rest import profile_url
from tokens.demo import DemoSummary
from tokens.models import Publication
from tokens.token_service import profile_keys

pytestmark = pytest.mark.django_db

ROTATE = profile_url("rotate")
State = KeyProfileBinding.State


@pytest.fixture(autouse=True)
def _fresh_service(fresh_api_state: None) -> Iterator[None]:
    """The API key lookup, the rate counters and the service's keys are per process: no test sees another's."""
    profile_keys.reset()
    yield
    profile_keys.reset()


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.fixture
def operator(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key("operator", name="ops"))


@pytest.fixture
def second_keystore(organization: Organization, actor: Actor) -> Keystore:
    return keystore_import(
        organization=organization,
        name="Second",
        certificate=CERT2_PEM.encode(),
        private_key=KEY2_PEM.encode(),
        actor=actor,
    )


def rotate(client: APIClient, headers: dict[str, str], body: dict[str, Any], url: str = ROTATE) -> Any:
    return client.post(url, body, format="json", **headers)


def states() -> dict[str, str]:
    return dict(
        KeyProfileBinding.objects.filter(profile__name="jwt-keyprofile").values_list("profile__version", "state")
    )


def test_a_dry_run_answers_the_plan_and_changes_nothing(
    client: APIClient, demo: DemoSummary, second_keystore: Keystore, operator: dict[str, str]
) -> None:
    events = AuditEvent.objects.count()
    snapshot = Publication.objects.get().document
    answer = rotate(client, operator, {"keystore": "Second", "dry_run": True, "grace": "2h"})
    assert answer.status_code == 200, answer.content
    plan = answer.json()
    assert plan["dry_run"] is True
    assert (plan["old_version"], plan["new_version"]) == ("1.0.0", "1.0.1")
    assert plan["grace_seconds"] == 7200
    assert plan["key_source"] == "keystore 'Second'"
    assert plan["apis_moved"] == ["jwt-generation-and-validation 1.0.0"]
    assert plan["crypto_objects"]["personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key"] == (
        "personal_sandbox_tlsp-jwt-keyprofileV1.0.1-key"
    )
    assert states() == {"1.0.0": State.ACTIVE}
    assert KeyProfile.objects.filter(name="jwt-keyprofile").count() == 1
    assert AuditEvent.objects.count() == events
    assert Publication.objects.get().document == snapshot


def test_a_rotation_with_prepublish_lists_the_new_key_first_and_signs_with_it_later(
    client: APIClient, demo: DemoSummary, second_keystore: Keystore, operator: dict[str, str]
) -> None:
    answer = rotate(client, operator, {"keystore": "Second", "prepublish": "1d"})
    assert answer.status_code == 200, answer.content
    plan = answer.json()
    assert plan["dry_run"] is False
    assert plan["prepublish_seconds"] == 86400
    assert states() == {"1.0.0": State.ACTIVE, "1.0.1": State.NEXT}
    assert AuditEvent.objects.filter(action="keyprofile.rotate", actor="api-key:personal/ops").exists()
    # A second rotation while this one is pending is a conflict.
    again = rotate(client, operator, {"keystore": "Second", "prepublish": "1d"})
    assert again.status_code == 409
    assert again.json()["code"] == "rotation_pending"


def test_a_rotation_without_prepublish_activates_the_new_version_and_moves_the_api(
    client: APIClient, demo: DemoSummary, second_keystore: Keystore, operator: dict[str, str]
) -> None:
    answer = rotate(client, operator, {"keystore": "Second", "version": "2.0.0"})
    assert answer.status_code == 200, answer.content
    assert states() == {"1.0.0": State.PASSIVE, "2.0.0": State.ACTIVE}
    assert "tlsp-jwt-keyprofileV2.0.0-key" in str(Publication.objects.get().document)


def test_a_generated_key_of_another_size(client: APIClient, demo: DemoSummary, operator: dict[str, str]) -> None:
    answer = rotate(client, operator, {"generate": True, "bits": 2048, "dry_run": True})
    assert answer.status_code == 200
    assert answer.json()["key_source"] == "generated like the current key (RSA 2048)"
    refused = rotate(client, operator, {"generate": True, "bits": 1024, "dry_run": True})
    assert refused.status_code == 400
    assert "bits" in refused.json()["errors"]


def test_only_operators_rotate(
    client: APIClient,
    organization: Organization,
    demo: DemoSummary,
    second_keystore: Keystore,
    make_key: MakeKey,
    other_organization: Organization,
) -> None:
    for role in ("auditor", "signer"):
        key = bearer(make_key(role, name=role))
        assert rotate(client, key, {"keystore": "Second", "dry_run": True}).status_code == 403
    stranger = bearer(make_key("operator", organization=other_organization, name="stranger"))
    assert rotate(client, stranger, {"keystore": "Second", "dry_run": True}).status_code == 404
    operator = bearer(make_key("operator", name="ops"))
    assert rotate(client, operator, {"keystore": "Second", "dry_run": True}).status_code == 200


def test_a_grace_shorter_than_the_longest_token_validity_is_refused(
    client: APIClient, demo: DemoSummary, second_keystore: Keystore, operator: dict[str, str]
) -> None:
    refused = rotate(client, operator, {"keystore": "Second", "grace": "30s"})
    assert refused.status_code == 400
    assert refused.json()["code"] == "grace_too_short"
    assert refused.json()["errors"] == {"grace": [refused.json()["detail"]]}
    assert states() == {"1.0.0": State.ACTIVE}
    assert rotate(client, operator, {"keystore": "Second", "grace": "60s", "dry_run": True}).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"keystore": "Second", "generate": True}, "keystore"),
        ({"keystore": "Second", "bits": 3072}, "bits"),
        ({"keystore": "Nope"}, "keystore"),
        ({"grace": "two hours"}, "grace"),
        ({"prepublish": "1y"}, "prepublish"),
        ({"version": "1.0"}, "version"),
    ],
)
def test_bad_options_are_refused_naming_the_field(
    client: APIClient,
    demo: DemoSummary,
    second_keystore: Keystore,
    operator: dict[str, str],
    body: dict[str, Any],
    field: str,
) -> None:
    refused = rotate(client, operator, {**body, "dry_run": True})
    assert refused.status_code == 400
    assert field in refused.json()["errors"]
    assert states() == {"1.0.0": State.ACTIVE}


def test_a_taken_version_and_a_keystore_of_another_kind_are_refused(
    client: APIClient,
    organization: Organization,
    demo: DemoSummary,
    second_keystore: Keystore,
    operator: dict[str, str],
    actor: Actor,
) -> None:
    taken = rotate(client, operator, {"keystore": "Second", "version": "1.0.0", "dry_run": True})
    assert taken.status_code == 409
    assert taken.json()["code"] == "version_taken"
    keystore_secret_create(organization=organization, name="Secret", secret=HMAC_SECRET.hex().encode(), actor=actor)
    other_kind = rotate(client, operator, {"keystore": "Secret", "dry_run": True})
    assert other_kind.status_code == 400
    assert other_kind.json()["code"] == "keystore_kind_mismatch"
    assert rotate(client, operator, {"keystore": "Second", "version": "1.1.0", "dry_run": True}).status_code == 200


def test_an_unknown_profile_or_catalog_is_404(client: APIClient, demo: DemoSummary, operator: dict[str, str]) -> None:
    assert rotate(client, operator, {"dry_run": True}, profile_url("rotate", name="nope")).status_code == 404
    assert rotate(client, operator, {"dry_run": True}, profile_url("rotate", catalog="nope")).status_code == 404
    assert rotate(client, operator, {"dry_run": True}).status_code == 200
