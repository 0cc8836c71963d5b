"""/metrics (portal.metrics, tokens.metrics): protected by a bearer token, and what the gateway counts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.test import Client
from prometheus_client import REGISTRY
from time_machine import TimeMachineFixture

from portal.invalidation import current_version
from portal.models import Catalog
from portal.services import Actor
from tests.tokens.helpers import CERT_OBJECT, KEY_OBJECT, api_document, flip
from tokens.demo import DemoSummary
from tokens.services import api_publish, api_save

TOKEN = "scrape-token-for-tests"
API = "jwt-generation-and-validation 1.0.0"
BASE = "/personal/sandbox/securetoken"


MINTED = "portal_gateway_tokens_minted_total"
VALIDATED = "portal_gateway_tokens_validated_total"
FAILURES = "portal_gateway_validation_failures_total"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def token_counts(api: str = API) -> dict[str, float]:
    """Every token count of ``api``, by outcome (and each failure reason seen in the registry)."""
    counts = {
        "minted": sample(MINTED, api=api, outcome="success"),
        "mint_failed": sample(MINTED, api=api, outcome="failure"),
        "valid": sample(VALIDATED, api=api, outcome="success"),
        "invalid": sample(VALIDATED, api=api, outcome="failure"),
    }
    for metric in REGISTRY.collect():
        for found in metric.samples:
            if found.name == FAILURES and found.labels["api"] == api:
                counts[f"reason:{found.labels['reason']}"] = found.value
    return counts


def counted_since(before: dict[str, float], api: str = API) -> dict[str, float]:
    """What was counted for ``api`` since ``before`` (the counts that moved)."""
    after = token_counts(api)
    return {name: after[name] - before.get(name, 0.0) for name in after if after[name] != before.get(name, 0.0)}


def generate(client: Client, client_id: str) -> Any:
    return client.get(
        f"{BASE}/generate", headers={"X-IBM-Client-Id": client_id, "iss-claim": "apic", "aud-claim": "id1"}
    )


def validate(client: Client, client_id: str, token: str) -> Any:
    return client.get(f"{BASE}/validate", headers={"X-IBM-Client-Id": client_id, "Authorization": f"Bearer {token}"})


@pytest.fixture
def metrics_on(settings: LazySettings) -> None:
    settings.PORTAL_METRICS_TOKEN = TOKEN


def test_metrics_are_off_without_a_token(db: None, client: Client) -> None:
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


@pytest.mark.usefixtures("metrics_on")
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
def test_a_scrape_without_the_token_is_refused(db: None, client: Client, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"portal_gateway" not in response.content


@pytest.mark.usefixtures("metrics_on")
def test_a_scrape_with_the_token_gets_the_prometheus_text(demo: DemoSummary, client: Client) -> None:
    generate(client, demo.client_id)

    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    for name in (
        "portal_gateway_tokens_minted_total",
        "portal_gateway_request_duration_seconds_bucket",
        "portal_gateway_refreshes_total",
        "portal_gateway_refresh_duration_seconds_count",
        "portal_gateway_config_version",
    ):
        assert name in text, name
    expiry = (
        'portal_certificate_expiry_days{catalog="sandbox",'
        'crypto_object="personal_sandbox_tlsp-jwt-keyprofileV1.0.0-ca-0",organization="personal"}'
    )
    assert expiry in text


def test_minted_and_validated_tokens_are_counted_by_api_and_outcome(demo: DemoSummary, client: Client) -> None:
    minted = sample("portal_gateway_tokens_minted_total", api=API, outcome="success")
    valid = sample("portal_gateway_tokens_validated_total", api=API, outcome="success")
    invalid = sample("portal_gateway_tokens_validated_total", api=API, outcome="failure")
    bad_signature = sample("portal_gateway_validation_failures_total", api=API, reason="bad_signature")

    token = generate(client, demo.client_id)["Authorization"].removeprefix("Bearer ")
    assert validate(client, demo.client_id, token).status_code == 200
    assert validate(client, demo.client_id, flip(token, 2)).status_code == 400

    assert sample("portal_gateway_tokens_minted_total", api=API, outcome="success") == minted + 1
    assert sample("portal_gateway_tokens_validated_total", api=API, outcome="success") == valid + 1
    assert sample("portal_gateway_tokens_validated_total", api=API, outcome="failure") == invalid + 1
    assert sample("portal_gateway_validation_failures_total", api=API, reason="bad_signature") == bad_signature + 1


def test_an_expired_token_is_counted_under_its_reason(
    demo: DemoSummary, client: Client, time_machine: TimeMachineFixture
) -> None:
    expired = sample("portal_gateway_validation_failures_total", api=API, reason="token_expired")
    token = generate(client, demo.client_id)["Authorization"].removeprefix("Bearer ")
    time_machine.move_to(time.time() + 3600)

    response = validate(client, demo.client_id, token)

    assert response.status_code == 400
    assert sample("portal_gateway_validation_failures_total", api=API, reason="token_expired") == expired + 1


def test_a_call_that_neither_mints_nor_validates_counts_no_token(demo: DemoSummary, client: Client) -> None:
    minted = sample("portal_gateway_tokens_minted_total", api=API, outcome="success")
    refused = client.get(f"{BASE}/generate")  # no client id: refused before the assembly runs
    assert sample("portal_gateway_tokens_minted_total", api=API, outcome="success") == minted

    accepted = generate(client, demo.client_id)  # the positive twin

    assert (refused.status_code, accepted.status_code) == (401, 200)
    assert sample("portal_gateway_tokens_minted_total", api=API, outcome="success") == minted + 1


def test_a_cold_build_is_counted_and_shows_the_version_served(demo: DemoSummary, client: Client) -> None:
    cold = sample("portal_gateway_refreshes_total", kind="cold")

    generate(client, demo.client_id)

    assert sample("portal_gateway_refreshes_total", kind="cold") == cold + 1
    assert sample("portal_gateway_config_version") == current_version()


def test_a_token_that_fails_to_mint_is_counted_as_a_failure(demo: DemoSummary, client: Client) -> None:
    before = token_counts()
    refused = client.get(f"{BASE}/generate", headers={"X-IBM-Client-Id": demo.client_id, "aud-claim": "id1"})
    assert counted_since(before) == {"mint_failed": 1}  # no iss-claim header: jwt-generate raises, caught

    before = token_counts()
    minted = generate(client, demo.client_id)  # the positive twin

    assert (refused.status_code, minted.status_code) == (400, 200)
    assert counted_since(before) == {"minted": 1}


def publish(document: dict[str, Any], sandbox: Catalog, actor: Actor) -> str:
    """Publish ``document`` in sandbox; its ``api`` label."""
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)
    return f"{api.name} {api.version}"


GENERATE = {
    "jwt-generate": {
        "title": "mint",
        "iss-claim": "request.headers.iss-claim",
        "aud-claim": "request.headers.aud-claim",
        "jws-alg": "RS256",
        "jws-crypto": KEY_OBJECT,
    }
}
VALIDATE = {"jwt-validate": {"title": "check", "iss-claim": "apic", "aud-claim": "id1", "jws-crypto": CERT_OBJECT}}


def test_a_token_minted_in_a_catch_is_counted(
    demo: DemoSummary, sandbox: Catalog, actor: Actor, client: Client
) -> None:
    """A jwt-validate that fails into a catch whose jwt-generate mints: both outcomes are counted, each once."""
    api = publish(
        api_document(name="exchange", base_path="/exchange", execute=[VALIDATE], catch=[{"default": [GENERATE]}]),
        sandbox,
        actor,
    )
    token = generate(client, demo.client_id)["Authorization"].removeprefix("Bearer ")
    headers = {"X-IBM-Client-Id": demo.client_id, "iss-claim": "apic", "aud-claim": "id1"}

    before = token_counts(api)
    exchanged = client.get("/personal/sandbox/exchange/go", headers=headers)
    assert counted_since(before, api) == {"invalid": 1, "reason:token_missing": 1, "minted": 1}

    before = token_counts(api)
    accepted = client.get("/personal/sandbox/exchange/go", headers={**headers, "Authorization": f"Bearer {token}"})

    assert (exchanged.status_code, accepted.status_code) == (401, 200)  # a catch answers with the error's status
    assert exchanged["Authorization"].startswith("Bearer ")
    assert counted_since(before, api) == {"valid": 1}  # the catch did not run


def test_a_token_validated_in_a_catch_is_counted(
    demo: DemoSummary, sandbox: Catalog, actor: Actor, client: Client
) -> None:
    throw = {"throw": {"title": "detour", "name": "Detour", "message": "validate in the catch"}}
    answer = {
        "set-variable": {"title": "ok", "actions": [{"set": "message.status.code", "value": 200, "type": "number"}]}
    }
    catch = [{"errors": ["Detour"], "execute": [VALIDATE, answer]}]
    api = publish(
        api_document(name="detour", base_path="/detour", execute=[throw], catch=catch),
        sandbox,
        actor,
    )
    token = generate(client, demo.client_id)["Authorization"].removeprefix("Bearer ")

    def call(token: str) -> int:
        headers = {"X-IBM-Client-Id": demo.client_id, "Authorization": f"Bearer {token}"}
        return client.get("/personal/sandbox/detour/go", headers=headers).status_code

    before = token_counts(api)
    assert call(token) == 200
    assert counted_since(before, api) == {"valid": 1}
    before = token_counts(api)
    assert call(flip(token, 2)) == 401  # raised inside the catch: the gateway answers it
    assert counted_since(before, api) == {"invalid": 1, "reason:bad_signature": 1}


def _foreign_token(client: Client, client_id: str, **claims: str) -> str:
    """A token of the demo's key with other iss or aud claims (from the headers jwt-generate reads)."""
    headers = {"X-IBM-Client-Id": client_id, "iss-claim": "apic", "aud-claim": "id1", **claims}
    return str(client.get(f"{BASE}/generate", headers=headers)["Authorization"].removeprefix("Bearer "))


@pytest.mark.parametrize(
    ("reason", "authorization"),
    [
        ("token_missing", lambda client, client_id: None),
        ("malformed", lambda client, client_id: "Bearer not.a-token"),
        ("bad_signature", lambda client, client_id: f"Bearer {flip(_foreign_token(client, client_id), 2)}"),
        (
            "issuer_mismatch",
            lambda client, client_id: f"Bearer {_foreign_token(client, client_id, **{'iss-claim': 'evil'})}",
        ),
        (
            "audience_mismatch",
            lambda client, client_id: f"Bearer {_foreign_token(client, client_id, **{'aud-claim': 'id2'})}",
        ),
        ("algorithm_not_allowed", lambda client, client_id: "Bearer eyJhbGciOiJub25lIn0.eyJpc3MiOiJhcGljIn0.c2ln"),
    ],
)
def test_each_validation_failure_is_counted_under_its_reason(
    reason: str, authorization: Any, demo: DemoSummary, client: Client
) -> None:
    sent = authorization(client, demo.client_id)
    headers = {"X-IBM-Client-Id": demo.client_id, **({"Authorization": sent} if sent else {})}
    before = token_counts()

    refused = client.get(f"{BASE}/validate", headers=headers)

    assert refused.status_code == 400
    assert counted_since(before) == {"invalid": 1, f"reason:{reason}": 1}


def test_setting_generated_jwt_by_set_variable_counts_no_token(
    demo: DemoSummary, sandbox: Catalog, actor: Actor, client: Client
) -> None:
    pretend = {"set-variable": {"title": "pretend", "actions": [{"set": "generated.jwt", "value": "a.b.c"}]}}
    pretender = publish(api_document(name="pretender", base_path="/pretender", execute=[pretend]), sandbox, actor)
    minter = publish(api_document(name="minter", base_path="/minter", execute=[GENERATE]), sandbox, actor)
    headers = {"X-IBM-Client-Id": demo.client_id, "iss-claim": "apic", "aud-claim": "id1"}
    before = {api: token_counts(api) for api in (pretender, minter)}

    pretended = client.get("/personal/sandbox/pretender/go", headers=headers)
    minted = client.get("/personal/sandbox/minter/go", headers=headers)  # the positive twin

    assert (pretended.status_code, minted.status_code) == (200, 200)
    assert counted_since(before[pretender], pretender) == {}
    assert counted_since(before[minter], minter) == {"minted": 1}


def test_a_gatewayscript_setting_the_claims_variable_counts_no_token(
    demo: DemoSummary, sandbox: Catalog, actor: Actor, client: Client
) -> None:
    """The API's jwt-validate puts claims in decoded.claims on /check; a script setting decoded.claims on /go
    validated no token (the gateway once counted any write of a jwt-validate's output variable)."""
    script = "require('apim').setvariable('decoded.claims', {iss: 'apic', aud: 'id1'});"
    switch = {
        "operation-switch": {
            "title": "switch",
            "case": [
                {
                    "operations": [{"verb": "get", "path": "/go"}],
                    "execute": [{"gatewayscript": {"title": "claims", "source": script}}],
                },
                {"operations": [{"verb": "get", "path": "/check"}], "execute": [VALIDATE]},
            ],
        }
    }
    api = publish(
        api_document(name="scripted", base_path="/scripted", paths=("/go", "/check"), execute=[switch]), sandbox, actor
    )
    token = generate(client, demo.client_id)["Authorization"].removeprefix("Bearer ")

    before = token_counts(api)
    set_by_script = client.get("/personal/sandbox/scripted/go", headers={"X-IBM-Client-Id": demo.client_id})
    assert counted_since(before, api) == {}

    before = token_counts(api)
    checked = client.get(  # the positive twin: jwt-validate sets decoded.claims
        "/personal/sandbox/scripted/check",
        headers={"X-IBM-Client-Id": demo.client_id, "Authorization": f"Bearer {token}"},
    )

    assert (set_by_script.status_code, checked.status_code) == (200, 200)
    assert counted_since(before, api) == {"valid": 1}


WORKER = """
import django, sys
django.setup()
from tokens.metrics import TOKENS_MINTED
TOKENS_MINTED.labels("multi 1.0.0", "success").inc(int(sys.argv[1]))
"""
SCRAPE = """
import django
django.setup()
from portal.metrics import exposition
print(exposition().decode())
"""


def test_under_gunicorn_a_scrape_adds_up_every_worker(tmp_path: Path) -> None:
    """prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR): each worker process writes its own
    counts, and a scrape of any process reports their sum. The scraping process has no database here: the
    certificate metric is left out and the rest still answers."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        "PORTAL_VAR_DIR": str(tmp_path),
        "LOG_LEVEL": "ERROR",
    }

    for count in ("2", "3"):
        subprocess.run([sys.executable, "-c", WORKER, count], env=env, check=True, timeout=60)
    scraped = subprocess.run(
        [sys.executable, "-c", SCRAPE], env=env, check=True, timeout=60, capture_output=True, text=True
    ).stdout

    assert 'portal_gateway_tokens_minted_total{api="multi 1.0.0",outcome="success"} 5.0' in scraped
    assert "portal_certificate_expiry_days" in scraped  # the family, with no sample
    assert "portal_certificate_expiry_days{" not in scraped
