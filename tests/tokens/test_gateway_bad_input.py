"""Hostile input through the real gateway view (Django's test client): each case of issue 9, finding 5 that
reached the gateway answers a 4xx in the gateway's JSON shape, never a 500, and its positive twin passes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from keyprofiles.models import KeyProfile
from portal.models import Catalog
from portal.services import Actor
from portal.untrusted import MAX_NESTING
from tests.tokens.helpers import CERT_OBJECT, KEY_OBJECT, NOW, api_document, compact, rs256, rsa_private
from tokens.services import api_publish, api_save

GENERATE = {
    "jwt-generate": {
        "title": "generate",
        "iss-claim": "request.headers.iss-claim",
        "private-claims": "message.body",
        "jws-alg": "RS256",
        "jws-crypto": KEY_OBJECT,
    }
}
VALIDATE = [
    {"jwt-validate": {"title": "validate", "iss-claim": "apic", "jws-crypto": CERT_OBJECT}},
    {"set-variable": {"title": "echo", "actions": [{"set": "message.body", "value": "$(decoded.claims)"}]}},
]


@pytest.fixture
def client_id(sandbox: Catalog, jwt_keyprofile: KeyProfile, actor: Actor) -> str:
    for name, base_path, execute in (("claims", "/claims", [GENERATE]), ("check", "/check", VALIDATE)):
        api, _ = api_save(
            organization=sandbox.organization,
            document=api_document(name=name, base_path=base_path, execute=execute),
            actor=actor,
        )
        api_publish(api=api, catalog=sandbox, actor=actor)
    return str(sandbox.apps.get().client_id)


def _generate(client: Client, client_id: str, body: bytes) -> Any:
    return client.generic(
        "GET",
        "/personal/sandbox/claims/go",
        data=body,
        content_type="application/json",
        headers={"X-IBM-Client-Id": client_id, "iss-claim": "apic"},
    )


def test_a_5000_deep_json_body_read_by_private_claims_answers_400(client: Client, client_id: str) -> None:
    shallow = _generate(client, client_id, b'{"scope": {"read": [true]}}')
    assert shallow.status_code == 200
    assert shallow["Authorization"].startswith("Bearer ")

    deep = _generate(client, client_id, b'{"a":' * 5000 + b"1" + b"}" * 5000)

    assert deep.status_code == 400
    assert deep.json() == {
        "httpCode": "400",
        "httpMessage": "Bad Request",
        "moreInformation": "jwt-generate 'generate': the private claims variable 'message.body' must hold a JSON "
        f"object (it is nested more than {MAX_NESTING} levels deep).",
    }


@pytest.mark.parametrize(
    ("changes", "because"),
    [
        ({"nbf": NOW * 1000}, f"the JWT's nbf claim is out of range ({NOW * 1000} looks like milliseconds; "),
        ({"nbf": 1e300}, "the JWT's nbf claim is out of range"),
        ({"exp": -1e15}, "the JWT's exp claim is out of range"),
    ],
    ids=["nbf-in-milliseconds", "nbf-1e300", "exp-minus-1e15"],
)
def test_time_claims_out_of_range_answer_401_naming_the_claim(
    changes: dict[str, Any], because: str, client: Client, client_id: str, frozen: int
) -> None:
    claims = {"iss": "apic", "exp": NOW + 60}
    headers = {"X-IBM-Client-Id": client_id}

    def check(claims: dict[str, Any]) -> Any:
        token = compact({"alg": "RS256", "typ": "JWT"}, claims, rs256(rsa_private()))
        return client.get("/personal/sandbox/check/go", headers={**headers, "Authorization": f"Bearer {token}"})

    good = check(claims)
    assert (good.status_code, good.json()) == (200, claims)

    bad = check({**claims, **changes})

    assert bad.status_code == 401
    assert bad.json()["moreInformation"].startswith(f"JWT validation failed, because {because}")
