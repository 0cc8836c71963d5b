"""The gateway writes one structured log line per call: request id, organization, catalog, API, outcome and
latency, and never a token, secret or key (issue: production path)."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client
from pythonjsonlogger.json import JsonFormatter

from tokens.demo import DemoSummary

BASE = "/personal/sandbox/securetoken"


def _gateway_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "tokens.gateway"]


@pytest.mark.django_db
def test_a_gateway_call_logs_one_line_with_its_facts_and_no_token(
    demo: DemoSummary, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="tokens.gateway"):
        response = client.get(
            f"{BASE}/generate",
            headers={
                "X-IBM-Client-Id": demo.client_id,
                "iss-claim": "apic",
                "aud-claim": "id1",
                "X-Request-Id": "r-12345678",
            },
        )
        token = response["Authorization"].removeprefix("Bearer ")
        client.get(f"{BASE}/validate", headers={"X-IBM-Client-Id": demo.client_id, "Authorization": f"Bearer {token}x"})

    generate, validate = _gateway_records(caplog)
    line = json.loads(JsonFormatter("%(message)s").format(generate))
    assert line["request_id"] == "r-12345678"
    assert (line["organization"], line["catalog"], line["api"]) == (
        "personal",
        "sandbox",
        "jwt-generation-and-validation 1.0.0",
    )
    assert (line["path"], line["status"], line["outcome"]) == ("/securetoken/generate", 200, "success")
    assert isinstance(line["latency_ms"], float)
    # Its twin, a refused validation, is logged as refused.
    assert (validate.status, validate.outcome) == (400, "refused")  # type: ignore[attr-defined]
    # Never a token, a client id or a key in any line.
    everything = "\n".join(JsonFormatter("%(message)s").format(record) for record in caplog.records)
    for secret in (token, token.split(".")[2], demo.client_id, "BEGIN"):
        assert secret not in everything


@pytest.mark.django_db
def test_the_gateway_line_is_not_written_below_info(
    demo: DemoSummary, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="tokens.gateway"):
        client.get(f"{BASE}/generate", headers={"X-IBM-Client-Id": demo.client_id, "iss-claim": "a", "aud-claim": "b"})
    assert _gateway_records(caplog) == []
