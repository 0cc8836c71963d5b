"""Fixtures of the QA findings' tests: the tokens suite's gateway and demo fixtures, and the REST API suite's
client, reused as they are (importing a fixture into a conftest registers it here)."""

from tests.portal.api.conftest import _fresh, client
from tests.tokens.conftest import _fast_password_hashing, _fresh_gateway, demo, rsa_keystore

__all__ = ["_fast_password_hashing", "_fresh", "_fresh_gateway", "client", "demo", "rsa_keystore"]
