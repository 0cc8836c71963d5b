"""QA findings against the management commands and the API key service (outside-in review after issue 9).
Each failing test is ``xfail(strict=True)`` and has a passing twin that differs in one thing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from keyprofiles.models import Keystore
from keyprofiles.services import keyprofile_create
from portal.models import Organization
from portal.services import Actor, api_key_create
from tests.commands import refused, run


def test_check_key_expiry_refuses_a_horizon_too_far_by_name(db: None) -> None:
    assert "--within" in refused("check_key_expiry", "--within", "99999999999")


def test_check_key_expiry_refuses_a_negative_horizon_by_name(db: None) -> None:
    """The twin: a horizon below 0 is a clean refusal."""
    assert "--within" in refused("check_key_expiry", "--within", "-5")


def test_create_api_key_refuses_a_lifetime_too_long_by_name(organization: Organization) -> None:
    assert "--expires-in" in refused(
        "create_api_key", "k", "--org", "personal", "--role", "auditor", "--expires-in", "99999999999d"
    )


def test_create_api_key_accepts_a_lifetime_in_days(organization: Organization) -> None:
    """The twin: a lifetime in range."""
    assert run("create_api_key", "k", "--org", "personal", "--role", "auditor", "--expires-in", "90d", "--json").json()[
        "expires_at"
    ]


def test_a_signer_key_naming_an_unknown_profile_is_refused(
    organization: Organization, rsa_keystore: Keystore, actor: Actor
) -> None:
    keyprofile_create(organization=organization, title="JWT Keyprofile", keystore=rsa_keystore, actor=actor)

    with pytest.raises(ValidationError):
        api_key_create(organization=organization, name="ghost", role="signer", profiles=["jwt-keyprofle"], actor=actor)


def test_a_signer_key_naming_a_known_profile_is_made(
    organization: Organization, rsa_keystore: Keystore, actor: Actor
) -> None:
    """The twin: the name is spelt right."""
    keyprofile_create(organization=organization, title="JWT Keyprofile", keystore=rsa_keystore, actor=actor)

    key, _ = api_key_create(
        organization=organization, name="signer", role="signer", profiles=["jwt-keyprofile"], actor=actor
    )

    assert key.profiles == ["jwt-keyprofile"]
