"""API key text, digest-only storage, the per-process lookup and the key services."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import LazySettings
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from keyprofiles.models import KeyProfile
from portal import apikeys
from portal.apikeys import api_keys, key_digest, key_generate, key_well_formed
from portal.models import ApiKey, AuditEvent, Organization
from portal.services import Actor, api_key_create, api_key_expire, api_key_revoke

ACTOR = Actor(name="test")
PROFILE = ["jwt-keyprofile"]  # the name of the signer_keyprofile fixture


@pytest.fixture(autouse=True)
def _fresh_lookup() -> None:
    api_keys.clear()


def test_a_key_has_the_prefix_256_random_bits_and_a_valid_checksum() -> None:
    text = key_generate()
    assert text.startswith("kpp_")
    assert len(text) == 4 + 43 + 6
    assert key_well_formed(text)
    assert key_generate() != text


def test_a_key_with_one_character_changed_fails_its_checksum_offline() -> None:
    text = key_generate()
    changed = text[:10] + ("A" if text[10] != "A" else "B") + text[11:]
    assert key_well_formed(text)
    assert not key_well_formed(changed)


@pytest.mark.parametrize("text", ["", "kpp_", "Bearer", "xyz_" + "a" * 49, "kpp_" + "!" * 49])
def test_malformed_key_texts_are_not_well_formed(text: str) -> None:
    assert not key_well_formed(text)


def test_only_the_digest_and_a_display_prefix_are_stored(organization: Organization) -> None:
    key, text = api_key_create(organization=organization, name="ci", role="operator", actor=ACTOR)
    row = ApiKey.objects.filter(pk=key.pk).values().get()
    assert text not in str(row)
    assert text[12:] not in str(row)
    assert row["digest"] == key_digest(text)
    assert row["display_prefix"] == text[:12]
    event = AuditEvent.objects.get(action="api_key.create")
    assert text not in str(event.detail)
    assert event.actor == "test"


def test_the_digest_is_keyed_by_the_dedicated_secret_when_set(settings: object) -> None:
    text = key_generate()
    default = key_digest(text)
    settings.PORTAL_API_KEY_SECRET = "a-dedicated-secret-for-api-key-digests"  # type: ignore[attr-defined]
    assert key_digest(text) != default


def test_a_key_made_before_secret_key_rotation_still_authenticates_from_the_fallbacks(
    organization: Organization, settings: object
) -> None:
    settings.PORTAL_API_KEY_SECRET = ""  # type: ignore[attr-defined]
    _, text = api_key_create(organization=organization, name="ci", role="operator", actor=ACTOR)
    old = settings.SECRET_KEY  # type: ignore[attr-defined]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40  # type: ignore[attr-defined]
    settings.SECRET_KEY_FALLBACKS = []  # type: ignore[attr-defined]
    assert apikeys.api_key_principal(text) is None
    settings.SECRET_KEY_FALLBACKS = [old]  # type: ignore[attr-defined]
    principal = apikeys.api_key_principal(text)
    assert principal is not None
    assert principal.name == "ci"


def test_a_warm_lookup_makes_no_database_query(organization: Organization) -> None:
    _, text = api_key_create(organization=organization, name="ci", role="auditor", actor=ACTOR)
    assert apikeys.api_key_principal(text) is not None
    with CaptureQueriesContext(connection) as queries:
        principal = apikeys.api_key_principal(text)
    assert principal is not None
    assert principal.role == "auditor"
    assert len(queries) == 0


def test_a_warm_lookup_computes_neither_the_checksum_nor_a_digest(
    organization: Organization, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, text = api_key_create(organization=organization, name="ci", role="auditor", actor=ACTOR)
    calls: list[str] = []
    for name in ("key_well_formed", "key_digests"):
        original = getattr(apikeys, name)
        monkeypatch.setattr(apikeys, name, lambda t, _n=name, _f=original: calls.append(_n) or _f(t))
    assert apikeys.api_key_principal(text) is not None  # cold: the twin that checks and digests
    assert calls == ["key_well_formed", "key_digests"]
    calls.clear()
    principal = apikeys.api_key_principal(text)
    assert principal is not None
    assert principal.name == "ci"
    assert calls == []


def test_the_lookup_holds_no_key_text(organization: Organization) -> None:
    _, text = api_key_create(organization=organization, name="ci", role="auditor", actor=ACTOR)
    unknown = key_generate()
    assert apikeys.api_key_principal(text) is not None
    assert apikeys.api_key_principal(unknown) is None
    held = b"".join(api_keys._entries)
    assert len(api_keys._entries) == 2
    assert text.encode() not in held
    assert unknown.encode() not in held


def test_a_malformed_key_is_refused_without_a_query(db: None) -> None:
    text = key_generate()
    broken = text[:-1] + ("0" if text[-1] != "0" else "1")
    with CaptureQueriesContext(connection) as queries:
        assert apikeys.api_key_principal(broken) is None
    assert len(queries) == 0


def test_revoke_reaches_a_warm_lookup_once_the_counter_is_read(
    organization: Organization, settings: LazySettings
) -> None:
    settings.PORTAL_INVALIDATION = {**settings.PORTAL_INVALIDATION, "RECHECK_SECONDS": 0.0}
    key, text = api_key_create(organization=organization, name="ci", role="operator", actor=ACTOR)
    assert apikeys.api_key_principal(text).revoked is False  # type: ignore[union-attr]
    api_key_revoke(key=key, actor=ACTOR)
    assert apikeys.api_key_principal(text).revoked is True  # type: ignore[union-attr]


def test_revoke_and_expire_are_idempotent_and_audited_once(organization: Organization) -> None:
    key, _ = api_key_create(organization=organization, name="ci", role="operator", actor=ACTOR)
    api_key_revoke(key=key, actor=ACTOR)
    api_key_revoke(key=key, actor=ACTOR)
    api_key_expire(key=key, actor=ACTOR)
    api_key_expire(key=key, actor=ACTOR)
    assert AuditEvent.objects.filter(action="api_key.revoke").count() == 1
    assert AuditEvent.objects.filter(action="api_key.expire").count() == 1
    key.refresh_from_db()
    assert key.state == "revoked"


def test_expire_never_extends_a_key(organization: Organization) -> None:
    soon = timezone.now() + timedelta(hours=1)
    key, _ = api_key_create(organization=organization, name="ci", role="operator", actor=ACTOR, expires_at=soon)
    api_key_expire(key=key, actor=ACTOR, at=soon + timedelta(days=1))
    key.refresh_from_db()
    assert key.expires_at == soon
    api_key_expire(key=key, actor=ACTOR)
    key.refresh_from_db()
    assert key.state == "expired"


def test_a_signer_key_must_name_its_profiles(organization: Organization, signer_keyprofile: KeyProfile) -> None:
    with pytest.raises(ValidationError) as caught:
        api_key_create(organization=organization, name="s", role="signer", actor=ACTOR)
    assert "profiles" in caught.value.message_dict
    key, _ = api_key_create(organization=organization, name="s", role="signer", actor=ACTOR, profiles=PROFILE)
    assert key.profiles == PROFILE


def test_a_signer_key_naming_an_unknown_profile_is_refused_naming_the_known_ones(
    organization: Organization, signer_keyprofile: KeyProfile
) -> None:
    with pytest.raises(ValidationError) as caught:
        api_key_create(
            organization=organization, name="s", role="signer", actor=ACTOR, profiles=["jwt-keyprofile", "x"]
        )
    assert caught.value.message_dict == {"profiles": ["Unknown key profile(s) x in personal; known: jwt-keyprofile."]}
    assert not ApiKey.objects.exists()


def test_a_profile_of_another_organization_is_unknown(
    organization: Organization, other_organization: Organization, signer_keyprofile: KeyProfile
) -> None:
    """The twin of the one above that differs in the organization: the name exists, but not in 'other'."""
    with pytest.raises(ValidationError) as caught:
        api_key_create(organization=other_organization, name="s", role="signer", actor=ACTOR, profiles=PROFILE)
    assert "known: none" in caught.value.message_dict["profiles"][0]


@pytest.mark.parametrize("role", ["operator", "auditor"])
@pytest.mark.parametrize(
    "option",
    [{"profiles": PROFILE}, {"allow_iss": "apic"}, {"allow_aud": "id1"}, {"allow_sub": "me"}, {"max_expires_in": 60}],
)
def test_signer_options_on_another_role_are_refused(
    organization: Organization, signer_keyprofile: KeyProfile, role: str, option: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError) as caught:
        api_key_create(organization=organization, name="k", role=role, actor=ACTOR, **option)
    (field,) = option
    assert caught.value.message_dict == {field: [f"Only a signer key takes {field}; an {role} key would ignore it."]}
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(
    "option",
    [{"profiles": PROFILE}, {"allow_iss": "apic"}, {"allow_aud": "id1"}, {"allow_sub": "me"}, {"max_expires_in": 60}],
)
def test_signer_options_on_a_signer_are_kept(
    organization: Organization, signer_keyprofile: KeyProfile, option: dict[str, Any]
) -> None:
    """The twin: the same option on a signer key."""
    key, _ = api_key_create(
        organization=organization, name="k", role="signer", actor=ACTOR, **{"profiles": PROFILE, **option}
    )
    (field, value), *_ = option.items()
    assert getattr(key, field) == value


def test_a_claim_constraint_must_be_a_regular_expression(
    organization: Organization, signer_keyprofile: KeyProfile
) -> None:
    with pytest.raises(ValidationError) as caught:
        api_key_create(organization=organization, name="s", role="signer", actor=ACTOR, profiles=PROFILE, allow_aud="(")
    assert "allow_aud" in caught.value.message_dict
    assert not ApiKey.objects.exists()
    api_key_create(
        organization=organization, name="s", role="signer", actor=ACTOR, profiles=PROFILE, allow_aud="id[0-9]"
    )


def test_a_name_is_unique_per_organization(organization: Organization) -> None:
    api_key_create(organization=organization, name="ci", role="operator", actor=ACTOR)
    with pytest.raises(ValidationError) as caught:
        api_key_create(organization=organization, name="ci", role="auditor", actor=ACTOR)
    assert {e.code for e in caught.value.error_dict["__all__"]} <= {"unique", "unique_together"}


def test_a_deleted_key_stops_authenticating_like_a_revoked_one(
    organization: Organization, settings: LazySettings
) -> None:
    settings.PORTAL_INVALIDATION = {**settings.PORTAL_INVALIDATION, "RECHECK_SECONDS": 0.0}
    key, text = api_key_create(organization=organization, name="ci", role="operator", actor=ACTOR)
    _, kept_text = api_key_create(organization=organization, name="kept", role="operator", actor=ACTOR)
    assert apikeys.api_key_principal(text) is not None
    key.delete()
    assert apikeys.api_key_principal(text) is None
    assert apikeys.api_key_principal(kept_text) is not None
