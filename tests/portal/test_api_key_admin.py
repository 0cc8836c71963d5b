"""The console's API key page: created once and shown once, revoked and expired by operators, read by
auditors; the digest appears nowhere."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from portal.apikeys import key_digest
from portal.models import ApiKey, Organization
from portal.services import Actor, api_key_create

ADD = "/admin/portal/apikey/add/"
LIST = "/admin/portal/apikey/"


def console(group: str | None = None, *, superuser: bool = False) -> Client:
    user = User.objects.create_user(
        f"user-{group or 'super'}", password="pw-Long-enough-1", is_staff=True, is_superuser=superuser
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(("group", "superuser"), [("Operators", False), (None, True)])
def test_operators_and_superusers_create_a_key_shown_once(
    organization: Organization, group: str | None, superuser: bool
) -> None:
    client = console(group, superuser=superuser)
    page = client.post(ADD, {"organization": organization.pk, "name": "ci", "role": "auditor", "expires_in": "30d"})
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    text = re.search(r'<code id="api-key">(kpp_\w+)</code>', page.content.decode()).group(1)  # type: ignore[union-attr]
    key = ApiKey.objects.get(name="ci")
    assert key.digest == key_digest(text)
    assert key.expires_at is not None
    detail = client.get(f"{LIST}{key.pk}/change/").content.decode()
    assert text not in detail
    assert key.digest not in detail


def test_a_bad_field_is_shown_beside_it_and_nothing_is_stored(organization: Organization) -> None:
    client = console("Operators")
    page = client.post(ADD, {"organization": organization.pk, "name": "s", "role": "signer", "expires_in": "soon"})
    assert page.status_code == 200
    assert "is not a duration" in page.content.decode()
    assert not ApiKey.objects.exists()
    page = client.post(ADD, {"organization": organization.pk, "name": "s", "role": "signer"})
    assert "must name the key profiles" in page.content.decode()
    assert not ApiKey.objects.exists()


def test_auditors_read_but_cannot_create_or_revoke(organization: Organization) -> None:
    key, _ = api_key_create(organization=organization, name="ci", role="operator", actor=Actor(name="t"))
    client = console("Auditors")
    listing = client.get(LIST)
    assert listing.status_code == 200
    assert "ci" in listing.content.decode()
    assert key.digest not in listing.content.decode()
    assert client.get(ADD).status_code == 403
    client.post(LIST, {"action": "revoke_selected", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is None


def test_operators_revoke_and_expire_from_the_list(organization: Organization) -> None:
    first, _ = api_key_create(organization=organization, name="one", role="operator", actor=Actor(name="t"))
    second, _ = api_key_create(organization=organization, name="two", role="operator", actor=Actor(name="t"))
    client = console("Operators")
    client.post(LIST, {"action": "revoke_selected", "_selected_action": [first.pk]})
    client.post(LIST, {"action": "expire_selected", "_selected_action": [second.pk]})
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state) == ("revoked", "expired")


def test_the_digest_cannot_be_filtered_or_searched(organization: Organization) -> None:
    key, _ = api_key_create(organization=organization, name="ci", role="operator", actor=Actor(name="t"))
    client = console(superuser=True)
    assert client.get(LIST, {"q": key.digest}).context["cl"].result_count == 0
    assert client.get(LIST, {"q": "ci"}).context["cl"].result_count == 1
    assert client.get(LIST, {"digest": key.digest}).status_code == 400  # DisallowedModelAdminLookup
    assert client.get(LIST, {"role": "operator"}).status_code == 200
