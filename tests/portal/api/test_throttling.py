"""Rates per key and role from PORTAL_API_RATES: 429 with Retry-After, on the shared cache."""

from __future__ import annotations

import pytest
from django.conf import LazySettings as SettingsWrapper
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from portal.api.permissions import Role
from portal.api.throttling import Rate, parse_rates
from tests.api import MakeKey, bearer

URL = "/api/v1/orgs/personal"


def test_a_key_over_its_roles_rate_gets_429_with_retry_after(
    client: APIClient, make_key: MakeKey, settings: SettingsWrapper
) -> None:
    settings.PORTAL_API_RATES = "auditor=2/min"
    auditor = bearer(make_key("auditor"))
    assert [client.get(URL, **auditor).status_code for _ in range(2)] == [200, 200]
    response = client.get(URL, **auditor)
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60


def test_each_key_has_its_own_count(client: APIClient, make_key: MakeKey, settings: SettingsWrapper) -> None:
    settings.PORTAL_API_RATES = "auditor=1/min"
    first, second = bearer(make_key("auditor")), bearer(make_key("auditor"))
    assert client.get(URL, **first).status_code == 200
    assert client.get(URL, **first).status_code == 429
    assert client.get(URL, **second).status_code == 200


def test_none_means_unlimited(client: APIClient, make_key: MakeKey, settings: SettingsWrapper) -> None:
    settings.PORTAL_API_RATES = "auditor=none"
    auditor = bearer(make_key("auditor"))
    assert {client.get(URL, **auditor).status_code for _ in range(5)} == {200}


def test_rates_are_parsed_per_role() -> None:
    assert parse_rates("operator=600/min, signer=none,auditor=10/s") == {
        Role.OPERATOR: Rate(600, 60),
        Role.SIGNER: None,
        Role.AUDITOR: Rate(10, 1),
    }


@pytest.mark.parametrize("text", ["king=1/min", "operator=many/min", "operator=5/fortnight", "operator=0/min"])
def test_a_bad_rate_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        parse_rates(text)
    assert "PORTAL_API_RATES" in str(caught.value)
