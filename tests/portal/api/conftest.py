"""Fixtures for REST API tests: real API keys of any role, a client, and a clean per-process key lookup."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from portal import invalidation
from portal.apikeys import api_keys
from portal.models import Organization
from portal.services import Actor, api_key_create, organization_create

MakeKey = Callable[..., str]


@pytest.fixture(autouse=True)
def _fresh_lookup_and_rates() -> Iterator[None]:
    """Each test starts with an empty key lookup and empty rate counters (both live beyond a test)."""
    api_keys.clear()
    cache.clear()
    yield
    api_keys.clear()
    cache.clear()


@pytest.fixture
def recheck_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Processes look at the api-keys counter on every request instead of once a second, so a test sees a
    revocation without waiting (the two-process test in tests/system waits for real)."""
    monkeypatch.setattr(invalidation, "RECHECK_SECONDS", 0.0)


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.fixture
def other_organization(db: None) -> Organization:
    return organization_create(slug="other", title="Other")


@pytest.fixture
def make_key(organization: Organization) -> MakeKey:
    """``make_key(role, name=..., organization=..., **service options)`` -> the key text of a new key."""
    counter = iter(range(1, 1000))

    def make(role: str = "operator", *, name: str | None = None, **options: Any) -> str:
        options.setdefault("organization", organization)
        if role == "signer":
            options.setdefault("profiles", ["jwt-keyprofile"])
        _, text = api_key_create(name=name or f"{role}-{next(counter)}", role=role, actor=Actor(name="test"), **options)
        return text

    return make


def bearer(text: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {text}"}
