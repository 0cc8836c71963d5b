"""What the REST tests of the tokens app share beyond tests/conftest.py and tests/api.py: the routes."""

from __future__ import annotations

ORG = "personal"
PROFILE_PATH = "/api/v1/orgs/{org}/catalogs/{catalog}/key-profiles/{name}"


def profile_url(action: str, *, org: str = ORG, catalog: str = "sandbox", name: str = "jwt-keyprofile") -> str:
    """``.../key-profiles/{name}/{action}``, e.g. ``tokens``, ``tokens/validate`` or ``rotate``."""
    return PROFILE_PATH.format(org=org, catalog=catalog, name=name) + "/" + action
