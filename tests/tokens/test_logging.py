"""Every gateway call writes exactly one structured log line (portal/gateway_log.py): request id,
organization, catalog, API, method, path, status, outcome and latency, and never a token, secret, key or
query string (issue 16). Calls go through the product's WSGI application, as gunicorn serves them."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from portal.gateway_log import CALL_FIELDS
from tests.conftest import CallLines
from tests.wsgi import wsgi_call
from tokens import views
from tokens.demo import DemoSummary

pytestmark = pytest.mark.django_db

BASE = "/personal/sandbox/securetoken"
LINE_KEYS = ["time", "level", "logger", "message", *CALL_FIELDS]
DEMO_API = "jwt-generation-and-validation 1.0.0"


def _claims(demo: DemoSummary) -> dict[str, str]:
    return {"X-IBM-Client-Id": demo.client_id, "iss-claim": "apic", "aud-claim": "id1"}


def test_a_gateway_call_logs_one_line_with_its_facts_and_no_token(demo: DemoSummary, call_lines: CallLines) -> None:
    generated = wsgi_call(f"{BASE}/generate", headers={**_claims(demo), "X-Request-Id": "r-12345678"})
    token = generated.headers["authorization"].removeprefix("Bearer ")
    wsgi_call(f"{BASE}/validate", headers={"X-IBM-Client-Id": demo.client_id, "Authorization": f"Bearer {token}x"})

    generate, validate = call_lines.parsed()
    assert list(generate) == LINE_KEYS  # exactly the documented fields, in order
    assert (generate["level"], generate["logger"], generate["message"]) == (
        "INFO",
        "tokens.gateway.calls",
        "gateway call",
    )
    assert generate["request_id"] == "r-12345678" == generated.headers["x-request-id"]
    assert (generate["organization"], generate["catalog"], generate["api"]) == (
        "personal",
        "sandbox",
        "jwt-generation-and-validation 1.0.0",
    )
    assert (generate["method"], generate["path"]) == ("GET", f"{BASE}/generate")
    assert (generate["status"], generate["outcome"]) == (200, "success")
    assert isinstance(generate["latency_ms"], float)
    # Its twin, a refused validation of the same API, is logged as refused, with the API named.
    assert list(validate) == LINE_KEYS
    assert (validate["status"], validate["outcome"], validate["api"]) == (400, "refused", generate["api"])
    # Never a token, a client id or a key in any line.
    everything = "\n".join(call_lines.lines)
    for secret in (token, token.split(".")[2], demo.client_id, "BEGIN"):
        assert secret not in everything


def _unexpected_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("private detail")

    monkeypatch.setattr(views, "_call", broken)


# Every kind of gateway answer: (path, extra headers, what to break, expected status, organization, catalog, api)
ANSWERS: dict[str, tuple[str, dict[str, str], bool, int, str, str, str]] = {
    "an API's answer": (f"{BASE}/generate", {}, False, 200, "personal", "sandbox", DEMO_API),
    "an unknown catalog": ("/personal/nowhere/securetoken/generate", {}, False, 404, "personal", "nowhere", ""),
    "no route at all": ("/personal/sandbox", {}, False, 404, "", "", ""),
    "an unknown operation": (f"{BASE}/nothing", {}, False, 404, "personal", "sandbox", DEMO_API),
    "a bad Content-Length": (f"{BASE}/generate", {"Content-Length": "x"}, False, 400, "personal", "sandbox", DEMO_API),
    "the JWKS": ("/personal/sandbox/.well-known/jwks.json", {}, False, 200, "personal", "sandbox", ""),
    "an unexpected error": (f"{BASE}/generate", {}, True, 500, "personal", "sandbox", ""),
}  # fmt: skip


@pytest.mark.parametrize("kind", ANSWERS)
def test_every_gateway_answer_logs_exactly_one_line(
    kind: str, demo: DemoSummary, call_lines: CallLines, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, headers, broken, status, organization, catalog, api = ANSWERS[kind]
    if broken:
        _unexpected_error(monkeypatch)

    answer = wsgi_call(path, headers={**_claims(demo), **headers})

    assert answer.status == status, answer.body
    [line] = call_lines.parsed()
    assert list(line) == LINE_KEYS
    assert (line["request_id"], line["path"], line["status"]) == (answer.headers["x-request-id"], path, status)
    assert (line["organization"], line["catalog"], line["api"]) == (organization, catalog, api)
    assert line["outcome"] == ("success" if status < 400 else "refused")


def test_the_line_holds_the_path_but_never_the_query_string(demo: DemoSummary, call_lines: CallLines) -> None:
    in_query = wsgi_call(
        f"{BASE}/generate",
        query=f"client_id={demo.client_id}&note=private-words",
        headers={"iss-claim": "apic", "aud-claim": "id1"},
    )

    assert in_query.status == 200  # the client id in the query is accepted...
    [line] = call_lines.parsed()
    assert line["path"] == f"{BASE}/generate"  # ...and the line has the path
    assert demo.client_id not in call_lines.lines[0]  # but nothing of the query string
    assert "private-words" not in call_lines.lines[0]


def test_the_gateway_line_is_not_written_below_info(demo: DemoSummary, call_lines: CallLines) -> None:
    # The twin of the tests above: only the level differs (GATEWAY_LOG_LEVEL=WARNING, development's default).
    logging.getLogger("tokens.gateway").setLevel(logging.WARNING)

    answer = wsgi_call(f"{BASE}/generate", headers=_claims(demo))

    assert answer.status == 200
    assert call_lines.lines == []
