"""REST API tests: a DRF test client, and a fresh key lookup and rate counters for every test."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _fresh(fresh_api_state: None) -> None:
    """Every test here starts with an empty API key lookup and empty rate counters."""


@pytest.fixture
def client() -> APIClient:
    return APIClient()
