"""The gateway's call log under real gunicorn in production mode (issue 16): a burst of calls from many
connections, then SIGTERM right after the last answer, and the log file holds exactly one line per call, with
the documented fields and nothing secret. Lines still queued in a worker when the signal comes are written by
its exit (gunicorn's ``worker_exit`` hook and ``atexit``, portal/gateway_log.py).

Everything runs as an operator runs it: ``migrate``, ``seed_demo`` as subprocesses, on a file SQLite database
in a temporary directory, against ``gunicorn -c gunicorn.conf.py portal.wsgi`` with two workers, behind what a
TLS-terminating load balancer sends (``X-Forwarded-Proto: https``).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from portal.gateway_log import CALL_FIELDS
from tests.conftest import TEST_MASTER_KEY
from tests.servers import LOOPBACK, HttpAnswer, ServerFactory, http_get, manage

pytestmark = pytest.mark.slow

BURST = 300
CONNECTIONS = 12
GUNICORN = (str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py", "portal.wsgi")
BEHIND_TLS = {"X-Forwarded-Proto": "https"}


def production_env(var_dir: Path) -> dict[str, str]:
    """The README's production settings on a file SQLite database and the local-memory cache."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PORTAL_", "DJANGO_", "GUNICORN_"))}
    for name in ("DATABASE_URL", "CACHE_URL", "DEBUG", "PORT", "HOST", "LOG_LEVEL", "GATEWAY_LOG_LEVEL", "LOG_FORMAT"):
        env.pop(name, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "PORTAL_MODE": "production",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "PORTAL_VAR_DIR": str(var_dir),
            "PORTAL_MASTER_KEYS": f"test-1:{TEST_MASTER_KEY}",
            "PORTAL_ADMIN_PASSWORD": "live-test-admin-password",
            "ALLOWED_HOSTS": LOOPBACK,
            "WEB_CONCURRENCY": "2",
            "GUNICORN_BIND": f"{LOOPBACK}:{{port}}",
            "GUNICORN_ACCESS_LOG": "",
        }
    )
    return env


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerFactory]:
    with ServerFactory(log_dir=tmp_path / "logs") as factory:
        yield factory


def test_every_call_of_a_burst_is_one_line_in_the_log_file_after_sigterm(
    servers: ServerFactory, tmp_path: Path
) -> None:
    env = production_env(tmp_path / "var")
    manage(env, "migrate", "--noinput")
    demo: dict[str, Any] = json.loads(manage(env, "seed_demo", "--json"))
    node = servers.start(list(GUNICORN), env=env, name="production", timeout=60)
    gateway = node.url(urllib.parse.urlsplit(demo["gateway_url"]).path)
    client = {**BEHIND_TLS, "X-IBM-Client-Id": demo["client_id"]}
    token = http_get(f"{gateway}/generate", {**client, "iss-claim": "apic", "aud-claim": "id1"}).headers[
        "authorization"
    ]

    def call(number: int) -> tuple[str, HttpAnswer]:
        request_id = f"burst-{number:06d}"
        kind = number % 3  # a token minted, a token checked, a client refused
        if kind == 0:
            headers = {**client, "iss-claim": "apic", "aud-claim": "id1"}
            return request_id, http_get(f"{gateway}/generate", {**headers, "X-Request-Id": request_id})
        if kind == 1:
            headers = {**client, "Authorization": token}
            return request_id, http_get(f"{gateway}/validate", {**headers, "X-Request-Id": request_id})
        headers = {**BEHIND_TLS, "X-IBM-Client-Id": "0" * 32, "iss-claim": "apic", "aud-claim": "id1"}
        return request_id, http_get(f"{gateway}/generate", {**headers, "X-Request-Id": request_id})

    with ThreadPoolExecutor(max_workers=CONNECTIONS) as pool:
        answers = dict(pool.map(call, range(BURST)))
    status = node.stop()  # SIGTERM right after the last answer

    assert status == 0
    assert {request_id: answer.status for request_id, answer in answers.items()} == {
        f"burst-{number:06d}": (200, 200, 401)[number % 3] for number in range(BURST)
    }
    output = node.logs()
    lines = [json.loads(line) for line in output.splitlines() if '"logger":"tokens.gateway.calls"' in line]
    burst = [line for line in lines if line["request_id"].startswith("burst-")]
    assert len(burst) == BURST  # exactly one line a call: none lost at exit, none twice
    assert {line["request_id"]: line["status"] for line in burst} == {
        request_id: answer.status for request_id, answer in answers.items()
    }
    assert all(list(line)[4:] == list(CALL_FIELDS) for line in lines)
    for secret in (token.removeprefix("Bearer "), demo["client_id"], "BEGIN", "PRIVATE"):
        assert secret not in output
