"""What the REST tests of the tokens app share: API keys of any role, the bearer header, and the routes."""

from __future__ import annotations

from typing import Any

from portal.models import Organization
from portal.services import Actor, api_key_create

ORG = "personal"
PROFILE_PATH = "/api/v1/orgs/{org}/catalogs/{catalog}/key-profiles/{name}"


def api_key(organization: Organization, role: str, *, name: str, **options: Any) -> str:
    """The key text of a new API key of ``role`` in ``organization`` (a signer lists jwt-keyprofile unless
    ``profiles`` says otherwise)."""
    if role == "signer":
        options.setdefault("profiles", ["jwt-keyprofile"])
    _, text = api_key_create(organization=organization, name=name, role=role, actor=Actor(name="test"), **options)
    return text


def bearer(text: str) -> dict[str, str]:
    """The extra arguments of a test client call that authenticate with API key ``text``."""
    return {"HTTP_AUTHORIZATION": f"Bearer {text}"}


def profile_url(action: str, *, org: str = ORG, catalog: str = "sandbox", name: str = "jwt-keyprofile") -> str:
    """``.../key-profiles/{name}/{action}``, e.g. ``tokens``, ``tokens/validate`` or ``rotate``."""
    return PROFILE_PATH.format(org=org, catalog=catalog, name=name) + "/" + action
