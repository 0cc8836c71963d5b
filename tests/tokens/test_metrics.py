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
from tests.tokens.helpers import flip
from tokens.demo import DemoSummary

TOKEN = "scrape-token-for-tests"
API = "jwt-generation-and-validation 1.0.0"
BASE = "/personal/sandbox/securetoken"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


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
