"""What every contender does, pinned in one place: the demo API's policies, claims, algorithm and key size.

The benchmark serves a copy of ``tokens/demo_api.yaml`` whose ``jwt-generate`` validity is an hour instead of
a minute, so that the token minted for the validate runs stays valid through the whole run; nothing else in
the document changes. The reference endpoints and the in-process peers sign and check the same claims.
"""

from __future__ import annotations

import copy
from importlib.resources import files
from typing import Any

import yaml

ALGORITHM = "RS256"
RSA_BITS = 2048
ISSUER = "apic"  # the demo's iss-claim header value, and its jwt-validate issuer pattern
AUDIENCE = "id1"  # the same for the audience
VALIDITY_SECONDS = 3600
CLAIM_HEADERS = {"iss-claim": ISSUER, "aud-claim": AUDIENCE}

# The token service (REST) signs with its own profile, whose key the reference DRF views load too.
SERVICE_PROFILE_TITLE = "Bench Keyprofile"
SERVICE_PROFILE = "bench-keyprofile"
SERVICE_KEYSTORE = "Bench Keystore"
SERVICE_SIGN_BODY = {"claims": {"iss": ISSUER, "aud": AUDIENCE}, "expires_in": VALIDITY_SECONDS, "jti": True}
# jwt-validate's patterns match the whole claim, as PyJWT's exact issuer and audience checks do.
SERVICE_VALIDATE_CHECKS = {"iss": ISSUER, "aud": AUDIENCE}


def demo_document() -> dict[str, Any]:
    """The demo API document (tokens/demo_api.yaml) as published by ``seed_demo``."""
    return yaml.safe_load(files("tokens").joinpath("demo_api.yaml").read_text(encoding="utf-8"))


def bench_document() -> dict[str, Any]:
    """The demo document with every ``jwt-generate`` validity set to ``VALIDITY_SECONDS``."""
    document = copy.deepcopy(demo_document())
    policy_config(document, "jwt-generate")["exp-claim"] = VALIDITY_SECONDS
    return document


def policy_config(document: dict[str, Any], kind: str) -> dict[str, Any]:
    """The properties of the one policy of type ``kind`` in the document's assembly (a live reference).

    Raises LookupError when the assembly has none or more than one, so a changed demo fails loudly.
    """
    found = list(_policies(document["x-ibm-configuration"]["assembly"], kind))
    if len(found) != 1:
        raise LookupError(f"the demo assembly has {len(found)} {kind} policies; the benchmark expects one")
    return found[0]


def _policies(node: Any, kind: str) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == kind and isinstance(value, dict):
                yield value
            else:
                yield from _policies(value, kind)
    elif isinstance(node, list):
        for item in node:
            yield from _policies(item, kind)
