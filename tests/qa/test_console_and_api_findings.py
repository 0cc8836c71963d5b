"""QA findings against the REST API and the console (outside-in review after issue 9): 500s on input any
caller can send. Each failing test is ``xfail(strict=True)`` and has a passing twin that differs in one thing."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from tests.api import MakeKey, bearer

API_KEYS = "/api/v1/orgs/personal/api-keys"


def test_options_on_api_keys_with_an_operator_key_is_answered(client: APIClient, make_key: MakeKey) -> None:
    client.raise_request_exception = False

    answer = client.options(API_KEYS, **bearer(make_key("operator")))

    assert answer.status_code == 200


def test_options_on_api_keys_with_an_auditor_key_is_answered(client: APIClient, make_key: MakeKey) -> None:
    """The twin: an auditor key (no POST permission, so DRF describes no action)."""
    client.raise_request_exception = False

    answer = client.options(API_KEYS, **bearer(make_key("auditor")))

    assert answer.status_code == 200


@pytest.fixture
def superuser_client(db: None) -> Client:
    user = get_user_model().objects.create_superuser("qa-admin", "qa@example.com", "qa-password-1")
    browser = Client(raise_request_exception=False)
    browser.force_login(user)
    return browser


def test_an_absurd_year_in_the_audit_date_hierarchy_is_not_a_500(superuser_client: Client) -> None:
    answer = superuser_client.get("/admin/portal/auditevent/", {"created_at__year": "99999999999"})

    assert answer.status_code < 500


def test_a_real_year_in_the_audit_date_hierarchy_is_listed(superuser_client: Client) -> None:
    """The twin: a year that exists."""
    answer = superuser_client.get("/admin/portal/auditevent/", {"created_at__year": "2026"})

    assert answer.status_code == 200
