"""Helpers for REST API tests (the fixtures are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

MakeKey = Callable[..., str]


def bearer(text: str) -> dict[str, str]:
    """The extra arguments of a test client call that authenticate with API key ``text``."""
    return {"HTTP_AUTHORIZATION": f"Bearer {text}"}
