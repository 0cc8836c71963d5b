"""Fixtures of the tokens REST API tests: a DRF client, request headers of each role, the demo API's document.
Keys come from ``make_key`` (tests/conftest.py)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.api import MakeKey, bearer
from tokens.demo import API_DOCUMENT


@pytest.fixture(autouse=True)
def _fresh(fresh_api_state: None) -> None:
    """Every test here starts with an empty API key lookup and empty rate counters."""


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.fixture
def operator(make_key: MakeKey) -> dict[str, str]:
    """Request headers of an operator of 'personal'."""
    return bearer(make_key("operator"))


@pytest.fixture
def auditor(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key("auditor"))


@pytest.fixture
def signer(make_key: MakeKey) -> dict[str, str]:
    """Request headers of a signer with 'jwt-keyprofile', which must exist first (``jwt_keyprofile``, ``demo``)."""
    return bearer(make_key("signer"))


@pytest.fixture
def demo_yaml() -> bytes:
    """The API of DESIGN.md section 1 as an APIC export (what seed_demo imports)."""
    return API_DOCUMENT.read_bytes()
