"""Fixtures of the tokens REST API tests: real API keys of any role, a DRF client, the demo API's document."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from portal.apikeys import api_keys
from portal.models import Organization
from portal.services import Actor, api_key_create, organization_create
from tokens.demo import API_DOCUMENT

MakeKey = Callable[..., str]


@pytest.fixture(autouse=True)
def _fresh_key_lookup() -> Iterator[None]:
    """The per-process key lookup outlives a test (the rate counters live in the cache, cleared per test)."""
    api_keys.clear()
    yield
    api_keys.clear()


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.fixture
def other_organization(db: None) -> Organization:
    return organization_create(slug="other", title="Other")


@pytest.fixture
def make_key(organization: Organization) -> MakeKey:
    """``make_key(role, organization=..., **service options)`` -> the text of a new API key."""
    counter = iter(range(1, 1000))

    def make(role: str = "operator", **options: Any) -> str:
        options.setdefault("organization", organization)
        if role == "signer":
            options.setdefault("profiles", ["jwt-keyprofile"])
        _, text = api_key_create(name=f"{role}-{next(counter)}", role=role, actor=Actor(name="test"), **options)
        return text

    return make


@pytest.fixture
def operator(make_key: MakeKey) -> dict[str, str]:
    """Request headers of an operator of 'personal'."""
    return bearer(make_key("operator"))


@pytest.fixture
def auditor(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key("auditor"))


@pytest.fixture
def signer(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key("signer"))


@pytest.fixture
def demo_yaml() -> bytes:
    """The API of DESIGN.md section 1 as an APIC export (what seed_demo imports)."""
    return API_DOCUMENT.read_bytes()


def bearer(text: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {text}"}
