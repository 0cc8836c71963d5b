"""Who may call the REST API: bearer keys (missing, garbage, revoked, expired, another organization's, each with
a positive twin) and console sessions mapped to roles."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.utils import timezone
from rest_framework.test import APIClient

from portal.models import ApiKey, Organization
from portal.services import Actor, api_key_expire, api_key_revoke
from tests.api import MakeKey, bearer

URL = "/api/v1/orgs/personal"


def test_no_credentials_answer_401_announcing_the_bearer_scheme(client: APIClient, organization: Organization) -> None:
    response = client.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="portal-api"'
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_authenticated"


def test_a_valid_key_authenticates(client: APIClient, make_key: MakeKey) -> None:
    response = client.get(URL, **bearer(make_key("auditor")))
    assert response.status_code == 200
    assert response.json() == {"slug": "personal", "title": "Personal", "role": "auditor"}


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Bearer ", "api_key_missing"),
        ("Bearer garbage", "api_key_invalid"),
        ("Bearer kpp_" + "A" * 49, "api_key_invalid"),
    ],
)
def test_a_garbage_key_answers_401_invalid_token(
    client: APIClient, organization: Organization, header: str, code: str
) -> None:
    response = client.get(URL, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="portal-api", error="invalid_token"'
    assert response.json()["code"] == code


def test_an_unknown_well_formed_key_answers_401(client: APIClient, make_key: MakeKey) -> None:
    from portal.apikeys import key_generate

    assert client.get(URL, **bearer(key_generate())).status_code == 401
    assert client.get(URL, **bearer(make_key())).status_code == 200


def test_another_scheme_is_not_a_key(client: APIClient, make_key: MakeKey) -> None:
    text = make_key()
    assert client.get(URL, HTTP_AUTHORIZATION=f"Basic {text}").status_code == 401
    assert client.get(URL, HTTP_AUTHORIZATION=f"bearer {text}").status_code == 200


def test_a_revoked_key_answers_401(client: APIClient, make_key: MakeKey, recheck_always: None) -> None:
    text = make_key(name="ci")
    assert client.get(URL, **bearer(text)).status_code == 200
    api_key_revoke(key=ApiKey.objects.get(name="ci"), actor=Actor(name="test"))
    response = client.get(URL, **bearer(text))
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_revoked"


def test_an_expired_key_answers_401_from_the_warm_lookup(client: APIClient, make_key: MakeKey) -> None:
    text = make_key(name="ci", expires_at=timezone.now() + timedelta(hours=1))
    assert client.get(URL, **bearer(text)).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        response = client.get(URL, **bearer(text))
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_expired"


def test_an_expire_action_answers_401(client: APIClient, make_key: MakeKey, recheck_always: None) -> None:
    text = make_key(name="ci")
    assert client.get(URL, **bearer(text)).status_code == 200
    api_key_expire(key=ApiKey.objects.get(name="ci"), actor=Actor(name="test"))
    assert client.get(URL, **bearer(text)).json()["code"] == "api_key_expired"


def test_another_organizations_key_answers_404_like_a_missing_organization(
    client: APIClient, make_key: MakeKey, other_organization: Organization
) -> None:
    other = make_key(organization=other_organization)
    own = make_key()
    assert client.get(URL, **bearer(other)).status_code == 404
    assert client.get("/api/v1/orgs/nowhere", **bearer(own)).status_code == 404
    assert client.get(URL, **bearer(own)).status_code == 200
    assert client.get("/api/v1/orgs/other", **bearer(other)).status_code == 200


@pytest.mark.parametrize(
    ("group", "superuser", "role"),
    [("Operators", False, "operator"), ("Auditors", False, "auditor"), (None, True, "operator")],
)
def test_console_users_map_to_roles_in_every_organization(
    organization: Organization, other_organization: Organization, group: str | None, superuser: bool, role: str
) -> None:
    user = User.objects.create_user("alice", password="pw-Long-enough-1", is_staff=True, is_superuser=superuser)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = APIClient()
    client.force_login(user)
    assert client.get(URL).json()["role"] == role
    assert client.get("/api/v1/orgs/other").json()["role"] == role


def test_a_console_user_without_a_role_sees_no_organization(organization: Organization) -> None:
    user = User.objects.create_user("bob", password="pw-Long-enough-1", is_staff=True)
    client = APIClient()
    client.force_login(user)
    assert client.get(URL).status_code == 404
    user.groups.add(Group.objects.get(name="Auditors"))
    client.force_login(User.objects.get(pk=user.pk))
    assert client.get(URL).status_code == 200


def test_a_console_session_must_send_the_csrf_token_to_write(organization: Organization) -> None:
    user = User.objects.create_user("alice", password="pw-Long-enough-1", is_staff=True, is_superuser=True)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    body = {"name": "ci", "role": "auditor"}
    refused = client.post(f"{URL}/api-keys", body, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    client.get("/admin/password_change/")  # a console form: sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    assert client.post(f"{URL}/api-keys", body, format="json", HTTP_X_CSRFTOKEN=token).status_code == 201


@pytest.mark.parametrize(
    "path",
    ["", "/catalogs", "/api-keys", "/audit-events", "/keystores", "/key-profiles", "/expiring-keys"],
)
def test_a_console_user_browses_the_api_as_html(organization: Organization, path: str) -> None:
    client = APIClient()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw-Long-enough-1"))
    page = client.get(f"{URL}{path}", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    assert client.get(f"{URL}{path}").json() is not None
