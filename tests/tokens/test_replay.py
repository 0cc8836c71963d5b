"""jwt-validate's jti-replay-check: off by default; on, a token (by iss and jti) is accepted once until it
expires, shared through the cache with an atomic add, with its own message; a token without jti is refused."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from redis.exceptions import ConnectionError as RedisConnectionError
from time_machine import TimeMachineFixture

from portal.models import Catalog
from portal.services import Actor
from tests.tokens.helpers import CERT_OBJECT, NOW, compact, compile_policies, make_context, rs256, rsa_private
from tokens import replay
from tokens.assembly import CompiledAssembly
from tokens.demo import DemoSummary
from tokens.errors import AssemblyError, PolicyConfigError
from tokens.models import Api
from tokens.runtime import CatalogCryptoResolver
from tokens.services import api_publish

CLAIMS = {"iss": "apic", "aud": "id1", "iat": NOW, "exp": NOW + 60, "jti": "0b6c1a4e-jti-1"}
REPLAYED = "JWT validation failed, because the JWT was already used: its jti was accepted before (replay)"

pytestmark = pytest.mark.usefixtures("frozen")


def signed(claims: dict[str, Any]) -> str:
    return compact({"alg": "RS256", "typ": "JWT"}, claims, rs256(rsa_private()))


def validator(resolver: CatalogCryptoResolver, **config: Any) -> CompiledAssembly:
    return compile_policies([{"jwt-validate": {"title": "v", "jws-crypto": CERT_OBJECT, **config}}], resolver)


def outcome(assembly: CompiledAssembly, token: str) -> str:
    """'accepted', or the validation message."""
    try:
        assembly.run(make_context({"Authorization": f"Bearer {token}"}))
    except AssemblyError as e:
        return e.message
    return "accepted"


def test_by_default_a_token_validates_as_often_as_it_is_sent(resolver: CatalogCryptoResolver) -> None:
    assembly = validator(resolver)
    assert [outcome(assembly, signed(CLAIMS)) for _ in range(3)] == ["accepted"] * 3


def test_with_the_check_on_a_token_is_accepted_once(resolver: CatalogCryptoResolver) -> None:
    # Twin of the test above: the property on.
    assembly = validator(resolver, **{"jti-replay-check": True})
    assert [outcome(assembly, signed(CLAIMS)) for _ in range(3)] == ["accepted", REPLAYED, REPLAYED]


def test_the_record_is_shared_by_every_policy_with_the_check(resolver: CatalogCryptoResolver) -> None:
    first, second = validator(resolver, **{"jti-replay-check": True}), validator(resolver, **{"jti-replay-check": True})
    assert (outcome(first, signed(CLAIMS)), outcome(second, signed(CLAIMS))) == ("accepted", REPLAYED)


def test_another_jti_or_another_issuer_is_another_token(resolver: CatalogCryptoResolver) -> None:
    assembly = validator(resolver, **{"jti-replay-check": True})
    outcomes = [
        outcome(assembly, signed(CLAIMS)),
        outcome(assembly, signed({**CLAIMS, "jti": "0b6c1a4e-jti-2"})),
        outcome(assembly, signed({**CLAIMS, "iss": "other-issuer"})),
    ]
    assert outcomes == ["accepted"] * 3


@pytest.mark.parametrize(
    ("jti", "message"),
    [
        (None, "the JWT has no jti claim, which replay protection (jti-replay-check) requires"),
        (7, "the JWT's jti claim is not a non-empty string"),
        ("", "the JWT's jti claim is not a non-empty string"),
    ],
)
def test_with_the_check_on_a_token_without_a_usable_jti_is_refused(
    jti: Any, message: str, resolver: CatalogCryptoResolver
) -> None:
    assembly = validator(resolver, **{"jti-replay-check": True})
    claims = {name: value for name, value in {**CLAIMS, "jti": jti}.items() if value is not None}
    assert outcome(assembly, signed(CLAIMS)) == "accepted"
    assert outcome(assembly, signed(claims)) == f"JWT validation failed, because {message}"


def test_a_refused_token_is_not_recorded(resolver: CatalogCryptoResolver) -> None:
    """Only accepted tokens use up their jti: one failing an earlier check (here the audience) does not."""
    strict = validator(resolver, **{"jti-replay-check": True, "aud-claim": "someone-else"})
    lenient = validator(resolver, **{"jti-replay-check": True})
    assert outcome(strict, signed(CLAIMS)).startswith("JWT validation failed, because the audience claim")
    assert outcome(lenient, signed(CLAIMS)) == "accepted"


def test_the_record_lasts_until_the_token_expires(time_machine: TimeMachineFixture, settings: Any) -> None:
    # The local-memory cache expires entries by the (moved) clock; Redis by its own real one, which no test moves.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "replay"}}
    assert replay.jti_first_use(issuer="apic", jti="j", until=NOW + 60, now=NOW)
    time_machine.shift(59)
    assert not replay.jti_first_use(issuer="apic", jti="j", until=NOW + 60, now=NOW + 59)
    time_machine.shift(2)
    # By now the token itself is expired (jwt-validate refuses it first); the record has made room.
    assert replay.jti_first_use(issuer="apic", jti="j", until=NOW + 60, now=NOW + 61)


def test_racing_requests_with_one_token_accept_it_exactly_once(resolver: CatalogCryptoResolver) -> None:
    assembly = validator(resolver, **{"jti-replay-check": True})
    token = signed(CLAIMS)
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def send() -> None:
        start.wait()
        outcomes.append(outcome(assembly, token))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (outcomes.count("accepted"), outcomes.count(REPLAYED)) == (1, 7)


def test_an_unreachable_cache_refuses_the_token(
    resolver: CatalogCryptoResolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    assembly = validator(resolver, **{"jti-replay-check": True})
    assert outcome(assembly, signed({**CLAIMS, "jti": "reachable"})) == "accepted"

    def unreachable(*args: Any, **kwargs: Any) -> bool:
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379")

    monkeypatch.setattr(cache, "add", unreachable)
    assert outcome(assembly, signed(CLAIMS)) == (
        "JWT validation failed, because the JWT could not be checked for replay (the shared cache is unavailable)"
    )


def test_a_bad_property_value_is_refused_at_publish(resolver: CatalogCryptoResolver) -> None:
    validator(resolver, **{"jti-replay-check": "true"})
    with pytest.raises(PolicyConfigError, match="property 'jti-replay-check': must be true or false"):
        validator(resolver, **{"jti-replay-check": "yes"})


def test_the_demo_with_the_check_on_answers_a_replay_with_400_and_its_message(
    demo: DemoSummary, sandbox: Catalog, actor: Actor, client: Client, recheck_always: None
) -> None:
    api = Api.objects.get(name="jwt-generation-and-validation")
    document = api.document
    case = document["x-ibm-configuration"]["assembly"]["execute"][0]["operation-switch"]["case"][1]
    case["execute"][0]["jwt-validate"]["jti-replay-check"] = True
    api_publish(api=api, catalog=sandbox, actor=actor, document=document)
    base = "/personal/sandbox/securetoken"
    headers = {"X-IBM-Client-Id": demo.client_id, "iss-claim": "apic", "aud-claim": "id1"}
    token = client.get(f"{base}/generate", headers=headers)["Authorization"]

    first = client.get(f"{base}/validate", headers={"X-IBM-Client-Id": demo.client_id, "Authorization": token})
    again = client.get(f"{base}/validate", headers={"X-IBM-Client-Id": demo.client_id, "Authorization": token})

    assert first.status_code == 200
    assert (again.status_code, again.content.decode()) == (400, REPLAYED)
