"""Key rotation without a failed request, over real HTTP against real processes (the issue's key test).

Everything runs as an operator runs it: ``manage.py migrate``, ``seed_demo``, ``import_api`` and the rotation
commands as subprocesses, on a file SQLite database in a temporary directory, against gunicorn with two
workers. The demo API is imported with a token validity (exp-claim) of 8 s, so the minimum grace is 8 s and
the whole life cycle (active -> passive -> retired) fits in a few seconds.

While a background thread calls generate and validate in a loop, the test rotates the key with
``rotate_keyprofile --grace 8s`` and, once the grace has ended, runs ``retire_keys``. No call may fail; the
servers switch to the new key within seconds without a restart; a token signed with the old key validates
during the grace and fails with the retired-key message afterwards; the JWKS follows.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from portal import invalidation
from tests.conftest import TEST_MASTER_KEY
from tests.servers import (
    HttpAnswer,
    ServerFactory,
    ServerProcess,
    configuration_version,
    every_worker_serves,
    http_get,
    manage,
    readyz_of_each_worker,
)
from tokens.demo import API_DOCUMENT

TOKEN_SECONDS = 8
SWITCH_SECONDS = 5.0  # every process sees a change "within seconds": each looks again once a second
LOOP_LIMIT_SECONDS = 60.0
LOOP_LIMIT_CALLS = 4000


def portal_env(var_dir: Path) -> dict[str, str]:
    """The environment of every portal process of this test: development mode on a file SQLite database and
    the local-memory cache under ``var_dir``, the fixed test master key ring."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PORTAL_", "DJANGO_", "GUNICORN_"))}
    for name in ("DATABASE_URL", "CACHE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "PORT", "WEB_CONCURRENCY"):
        env.pop(name, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "PORTAL_VAR_DIR": str(var_dir),
            "PORTAL_MASTER_KEYS": f"test-1:{TEST_MASTER_KEY}",
            "PORTAL_ADMIN_PASSWORD": "live-test-admin-password",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def kid(token: str) -> str:
    head = token.split(".")[0]
    value: str = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]
    return value


@dataclass
class Portal:
    server: ServerProcess
    client_id: str
    gateway: str  # path of the demo API, e.g. /personal/sandbox/securetoken

    def generate(self) -> HttpAnswer:
        return http_get(
            self.server.url(f"{self.gateway}/generate"),
            {"X-IBM-Client-Id": self.client_id, "iss-claim": "apic", "aud-claim": "id1"},
        )

    def validate(self, token: str) -> HttpAnswer:
        return http_get(
            self.server.url(f"{self.gateway}/validate"),
            {"X-IBM-Client-Id": self.client_id, "Authorization": f"Bearer {token}"},
        )

    def token(self) -> str:
        answer = self.generate()
        assert answer.status == 200, answer.text
        return answer.headers["authorization"].removeprefix("Bearer ")

    def jwks_kids(self) -> set[str]:
        answer = http_get(self.server.url("/personal/sandbox/.well-known/jwks.json"))
        assert answer.status == 200, answer.text
        return {key["kid"] for key in json.loads(answer.body)["keys"]}


@dataclass
class Call:
    started: float  # time.monotonic()
    operation: str  # "generate" or "validate"
    status: int
    kid: str = ""
    body: str = ""
    token: str = ""


@dataclass
class Traffic:
    """Generate-then-validate in a loop on a thread, recording every answer; bounded in calls and time."""

    portal: Portal
    calls: list[Call] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        deadline = time.monotonic() + LOOP_LIMIT_SECONDS
        while not self._stop.is_set() and time.monotonic() < deadline and len(self.calls) < LOOP_LIMIT_CALLS:
            try:
                started = time.monotonic()
                answer = self.portal.generate()
                token = answer.headers.get("authorization", "").removeprefix("Bearer ")
                self.calls.append(
                    Call(started, "generate", answer.status, kid(token) if token else "", answer.text[:300], token)
                )
                if answer.status == 200:
                    started = time.monotonic()
                    checked = self.portal.validate(token)
                    self.calls.append(Call(started, "validate", checked.status, kid(token), checked.text[:300]))
            except Exception as e:  # a connection error is a failed request too; the test reports it
                self.errors.append(f"{type(e).__name__}: {e}")
            self._stop.wait(0.02)

    def failures(self) -> list[Call]:
        return [call for call in self.calls if call.status != 200]


WORKERS = 2


def settle(portal: Portal, env: dict[str, str]) -> None:
    """Wait until every worker serves the configuration committed now: poll the version /readyz reports."""
    target = configuration_version(env)
    poll(
        lambda: every_worker_serves(portal.server, target, workers=WORKERS),
        within=SWITCH_SECONDS,
        what=f"every worker serves configuration version {target}",
    )


def poll(check: Callable[[], Any], *, within: float, what: str) -> Any:
    """Call ``check`` until it returns something truthy, for at most ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {within:.0f}s: {what}")
        time.sleep(0.05)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerFactory]:
    with ServerFactory(log_dir=tmp_path / "logs") as factory:
        yield factory


@pytest.fixture
def portal(tmp_path: Path, servers: ServerFactory) -> tuple[Portal, dict[str, str]]:
    """The demo, seeded and served by gunicorn with two workers, its API re-imported with exp-claim 8."""
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    env = portal_env(var_dir)
    manage(env, "migrate", "--noinput")
    demo = json.loads(manage(env, "seed_demo", "--json"))
    document = API_DOCUMENT.read_text(encoding="utf-8")
    assert document.count("exp-claim: 60\n") == 1
    short_lived = tmp_path / "demo_api_8s.yaml"
    short_lived.write_text(document.replace("exp-claim: 60\n", f"exp-claim: {TOKEN_SECONDS}\n"), encoding="utf-8")
    manage(env, "import_api", str(short_lived), "--catalog", "sandbox", "--publish")
    assert (var_dir / "portal.sqlite3").is_file()

    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    server = servers.start(
        [gunicorn, "portal.wsgi", "-b", "127.0.0.1:{port}", "-w", str(WORKERS)], env=env, name="gunicorn"
    )
    path = "/" + demo["gateway_url"].split("/", 3)[3]
    return Portal(server=server, client_id=demo["client_id"], gateway=path), env


@pytest.mark.slow
def test_rotation_under_traffic_fails_no_request(portal: tuple[Portal, dict[str, str]]) -> None:
    gateway, env = portal

    def served_versions() -> list[int | None]:
        return [answer["gateway_version"] for answer in readyz_of_each_worker(gateway.server, workers=WORKERS)]

    assert served_versions() == [None, None]
    old_token = gateway.token()
    # One call warmed one worker: the probe reaches each worker, not one twice.
    assert sorted(version is not None for version in served_versions()) == [False, True]
    old_kid = kid(old_token)
    assert gateway.validate(old_token).status == 200
    assert gateway.jwks_kids() == {old_kid}

    traffic = Traffic(gateway)
    traffic.start()
    try:
        poll(lambda: len(traffic.calls) >= 4, within=10, what="traffic flows before the rotation")

        # Rotate while requests flow; the command returns once the rotation has committed.
        before_rotation = gateway.token()
        [plan] = json.loads(
            manage(
                env,
                "rotate_keyprofile",
                "jwt-keyprofile",
                "--catalog",
                "sandbox",
                "--grace",
                f"{TOKEN_SECONDS}s",
                "--json",
            )
        )
        rotated = time.monotonic()
        assert (plan["old_version"], plan["new_version"], plan["grace_seconds"]) == ("1.0.0", "1.0.1", TOKEN_SECONDS)
        assert plan["apis_moved"] == ["jwt-generation-and-validation 1.0.0"]

        # The servers sign with the new key within seconds, without a restart.
        new_kid = poll(
            lambda: (k := kid(gateway.token())) != old_kid and k,
            within=SWITCH_SECONDS,
            what="the servers mint with the new key after the rotation",
        )
        # Each worker follows the configuration version within a second: once both report the rotation's,
        # whichever worker answers has seen it.
        settle(gateway, env)
        # The youngest token signed with the old key, minted while the rotation ran: a token from before the
        # rotation that has not expired yet (an exp-claim of 8 s leaves little room on a slow machine).
        last_old = max(
            (c for c in traffic.calls if c.operation == "generate" and c.kid == old_kid and c.started < rotated),
            key=lambda c: c.started,
        )
        for _ in range(4):
            answer = gateway.validate(last_old.token)
            assert answer.status == 200, (
                f"a token from before the rotation, {time.monotonic() - last_old.started:.1f}s old, during the "
                f"grace: {answer.text}"
            )
            assert kid(gateway.token()) == new_kid
            assert gateway.jwks_kids() == {old_kid, new_kid}
        assert kid(before_rotation) == old_kid
        new_token = gateway.token()
        assert gateway.validate(new_token).status == 200

        # Once the grace has ended, retire_keys retires the old key.
        retires_at = datetime.fromisoformat(plan["old_version_retires_at"]).timestamp()
        time.sleep(max(0.0, retires_at - time.time()) + 0.2)
        assert manage(env, "retire_keys") == "Retired jwt-keyprofile 1.0.0 in personal/sandbox\n"
        retired = time.monotonic()

        poll(
            lambda: "retired" in gateway.validate(before_rotation).text,
            within=SWITCH_SECONDS,
            what="the old token fails with the retired-key message",
        )
        settle(gateway, env)
        for _ in range(4):
            for token in (before_rotation, last_old.token):
                failed = gateway.validate(token)
                assert failed.status == 400
                assert failed.text.startswith(
                    "JWT validation failed, because the JWT was signed by a retired key "
                    f"(jwt-keyprofile 1.0.0, kid {old_kid})"
                )
            assert gateway.jwks_kids() == {new_kid}
            assert gateway.validate(gateway.token()).status == 200
        poll(lambda: any(c.started > retired + 1 for c in traffic.calls), within=10, what="traffic after retirement")
    finally:
        traffic.stop()

    # Not one request failed, on either worker, before, during or after the rotation and the retirement.
    assert traffic.failures() == []
    generated = [call for call in traffic.calls if call.operation == "generate"]
    validated = [call for call in traffic.calls if call.operation == "validate"]
    assert len(generated) == len(validated) >= 20
    assert {call.kid for call in generated} == {old_kid, new_kid}
    late = [call for call in generated if call.started > rotated + invalidation.recheck_seconds() + 0.5]
    assert late
    assert {call.kid for call in late} == {new_kid}
