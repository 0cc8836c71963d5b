"""Rates per key and role from PORTAL_API_RATES: 429 with Retry-After, on the shared cache."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import LazySettings as SettingsWrapper
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from portal.api import throttling
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


class CountingCache:
    """The default cache, recording the throttle's operations on it; ``opened_by_another`` makes the first
    ``incr`` miss as though another process opened the window just before this one's ``add``."""

    def __init__(self, *, opened_by_another: int | None = None) -> None:
        self.operations: list[str] = []
        self._opened_by_another = opened_by_another

    def incr(self, key: str) -> Any:
        self.operations.append("incr")
        if self._opened_by_another is not None:
            cache.set(key, self._opened_by_another, timeout=60)
            self._opened_by_another = None
            raise ValueError(key)
        return cache.incr(key)

    def add(self, key: str, value: int, timeout: int) -> bool:
        self.operations.append("add")
        return cache.add(key, value, timeout=timeout)


def test_a_window_costs_one_cache_operation_per_request_once_open(
    client: APIClient, make_key: MakeKey, settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.PORTAL_API_RATES = "auditor=5/min"
    counting = CountingCache()
    monkeypatch.setattr(throttling, "cache", counting)
    auditor = bearer(make_key("auditor"))
    assert client.get(URL, **auditor).status_code == 200
    assert counting.operations == ["incr", "add"]  # the window's first request opens it
    counting.operations.clear()
    assert [client.get(URL, **auditor).status_code for _ in range(2)] == [200, 200]
    assert counting.operations == ["incr", "incr"]


def test_a_window_opened_by_another_process_meanwhile_counts_on(monkeypatch: pytest.MonkeyPatch) -> None:
    racing = CountingCache(opened_by_another=4)
    monkeypatch.setattr(throttling, "cache", racing)
    assert throttling._count("portal:api-rate:test:race", timeout=61) == 5
    assert racing.operations == ["incr", "add", "incr"]
    alone = CountingCache()
    monkeypatch.setattr(throttling, "cache", alone)
    assert throttling._count("portal:api-rate:test:alone", timeout=61) == 1
    assert alone.operations == ["incr", "add"]
