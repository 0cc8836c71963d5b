"""create_api_key, revoke_api_key and list_api_keys, through call_command."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from keyprofiles.models import KeyProfile
from keyprofiles.services import keyprofile_create
from portal.apikeys import key_digest, key_well_formed
from portal.models import ApiKey, AuditEvent, Organization
from portal.services import Actor
from tests.commands import refused, run


def test_create_api_key_prints_the_key_once_as_json_and_stores_its_digest(
    organization: Organization, signer_keyprofile: KeyProfile, actor: Actor
) -> None:
    keyprofile_create(organization=organization, title="Other", truststore=signer_keyprofile.truststore, actor=actor)
    output = run(
        "create_api_key",
        "ci",
        "--org",
        "personal",
        "--role",
        "signer",
        "--profiles",
        "jwt-keyprofile, other",
        "--expires-in",
        "90d",
        "--allow-iss",
        "apic",
        "--allow-aud",
        "id[0-9]+",
        "--max-expires-in",
        "300",
        "--json",
    ).json()
    assert key_well_formed(output["key"])
    key = ApiKey.objects.get(name="ci")
    assert key.digest == key_digest(output["key"])
    assert (key.role, key.profiles, key.allow_iss, key.allow_aud, key.max_expires_in) == (
        "signer",
        ["jwt-keyprofile", "other"],
        "apic",
        "id[0-9]+",
        300,
    )
    assert key.expires_at is not None
    assert timedelta(days=89) < key.expires_at - timezone.now() <= timedelta(days=90)
    assert output["profiles"] == ["jwt-keyprofile", "other"]
    event = AuditEvent.objects.get(action="api_key.create")
    assert event.actor == "cli:create_api_key"
    assert output["key"] not in str(event.detail)


def test_create_api_key_text_output_shows_the_key(organization: Organization) -> None:
    output = run("create_api_key", "ops", "--org", "personal", "--role", "operator").stdout
    key = next(word for word in output.split() if word.startswith("kpp_"))
    assert ApiKey.objects.get(name="ops").digest == key_digest(key)


PROFILE = ["--profiles", "jwt-keyprofile"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "nowhere", "--role", "operator"], "No organization 'nowhere'"),
        (["--org", "personal", "--role", "signer"], "signer key must name the key profiles"),
        (["--org", "personal", "--role", "operator", "--expires-in", "soon"], "--expires-in: 'soon' is not a duration"),
        (["--org", "personal", "--role", "signer", *PROFILE, "--allow-sub", "(["], "is not a regular expression"),
        (
            ["--org", "personal", "--role", "signer", "--profiles", "jwt-keyprofle"],
            "Unknown key profile(s) jwt-keyprofle in personal; known: jwt-keyprofile.",
        ),
        (["--org", "personal", "--role", "operator", *PROFILE], "Only a signer key takes profiles"),
        (["--org", "personal", "--role", "auditor", "--allow-aud", "id1"], "Only a signer key takes allow_aud"),
        (
            ["--org", "personal", "--role", "operator", "--max-expires-in", "60"],
            "Only a signer key takes max_expires_in",
        ),
    ],
)
def test_create_api_key_refuses_bad_input_and_stores_nothing(
    organization: Organization, signer_keyprofile: KeyProfile, args: list[str], message: str
) -> None:
    assert message in refused("create_api_key", "ci", *args)
    assert not ApiKey.objects.exists()


def test_create_api_key_refuses_a_taken_name(organization: Organization) -> None:
    run("create_api_key", "ci", "--org", "personal", "--role", "operator")
    assert "already exists" in refused("create_api_key", "ci", "--org", "personal", "--role", "auditor")
    run("create_api_key", "ci-2", "--org", "personal", "--role", "auditor")


def test_revoke_and_list_api_keys(organization: Organization) -> None:
    run("create_api_key", "ci", "--org", "personal", "--role", "operator")
    assert "No API key 'cd'" in refused("revoke_api_key", "cd", "--org", "personal")
    run("revoke_api_key", "ci", "--org", "personal")
    assert ApiKey.objects.get(name="ci").state == "revoked"
    rows = run("list_api_keys", "--org", "personal", "--json").json()
    assert [(row["name"], row["state"]) for row in rows] == [("ci", "revoked")]
    assert "digest" not in rows[0]
