"""What the system tests share: portal processes as an operator runs them, and the services under them.

Every portal process here (``manage.py`` commands and gunicorn nodes) gets its own environment: a PostgreSQL
database of its own (a unique database on the machine's server, or a private cluster), a Redis database
number of its own (or a private Redis), the fixed test master key ring, and ``DEBUG=false``. Nothing here
talks to anything but 127.0.0.1, every loop is bounded in count and time, and whatever a test starts is
stopped and dropped by the fixture that started it.

The heavy tests run once per CI run, in the PostgreSQL+Redis pass (``make test-postgres-redis``):
``postgres_pass_only`` skips them in the SQLite pass.
"""

from __future__ import annotations

import base64
import contextlib
import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg import sql

from tests.conftest import TEST_MASTER_KEY
from tests.servers import (
    LOOPBACK,
    HttpAnswer,
    ServerFactory,
    ServerProcess,
    configuration_version,
    every_worker_serves,
    free_port,
    http_get,
    manage,
)

POSTGRES_PASS = os.environ.get("DATABASE_URL", "").startswith("postgres")
postgres_pass_only = pytest.mark.skipif(
    not POSTGRES_PASS,
    reason="starts its own servers on PostgreSQL and Redis: runs once per CI run, in the PostgreSQL+Redis pass "
    "(make test-postgres-redis, DATABASE_URL=postgres://...)",
)

MACHINE_POSTGRES = f"postgres://postgres@{LOOPBACK}:5432"  # the machine's server: trust auth, user postgres
MACHINE_REDIS_PORT = 6379
ADMIN_PASSWORD = "system-test-admin-password"
GUNICORN_ARGV = (str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py", "portal.wsgi")
SWITCH_SECONDS = 5.0  # "every node follows within seconds": each process looks again once a second
POLL_INTERVAL_SECONDS = 0.2


# -- processes ----------------------------------------------------------------------------------------------


def portal_env(*, database_url: str, cache_url: str, var_dir: Path, workers: int = 2, **extra: str) -> dict[str, str]:
    """The environment of every portal process of one test: gunicorn reads WEB_CONCURRENCY and GUNICORN_BIND
    (``{port}`` is filled in by the ServerFactory); commands run with the same environment, as on a node."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PORTAL_", "DJANGO_", "GUNICORN_"))}
    for name in ("DATABASE_URL", "CACHE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "PORT", "HOST", "LOG_LEVEL"):
        env.pop(name, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "PORTAL_VAR_DIR": str(var_dir),
            "PORTAL_MASTER_KEYS": f"test-1:{TEST_MASTER_KEY}",
            "PORTAL_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "DATABASE_URL": database_url,
            "CACHE_URL": cache_url,
            "DEBUG": "false",
            "ALLOWED_HOSTS": LOOPBACK,
            "LOG_LEVEL": "WARNING",
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_BIND": f"{LOOPBACK}:{{port}}",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


def manage_shell(env: dict[str, str], code: str) -> str:
    """``manage.py shell -c CODE``: what an operator types when no command does the job."""
    return manage(env, "shell", "--no-imports", "-c", code)


def reset_secret(env: dict[str, str], app: str = "Sandbox Test App") -> str:
    """Give the app a new client secret through the service (the console's action); returns it."""
    return manage_shell(
        env,
        "from portal.services import Actor; from tokens.models import ConsumerApp; from tokens import services; "
        f"app = ConsumerApp.objects.get(name={app!r}, catalog__slug='sandbox'); "
        "print(services.app_reset_secret(app=app, actor=Actor(name='system-test')))",
    ).strip()


def reset_client_id(env: dict[str, str], app: str = "Sandbox Test App") -> str:
    """Give the app a new client id through the service (the console's action); returns it."""
    return manage_shell(
        env,
        "from portal.services import Actor; from tokens.models import ConsumerApp; from tokens import services; "
        f"app = ConsumerApp.objects.get(name={app!r}, catalog__slug='sandbox'); "
        "print(services.app_reset_client_id(app=app, actor=Actor(name='system-test')))",
    ).strip()


def prepare_demo(env: dict[str, str]) -> dict[str, Any]:
    """migrate and seed_demo, as the README's first run does; returns seed_demo's JSON."""
    manage(env, "migrate", "--noinput")
    demo: dict[str, Any] = json.loads(manage(env, "seed_demo", "--json"))
    return demo


def start_node(servers: ServerFactory, env: dict[str, str], name: str) -> ServerProcess:
    """``gunicorn -c gunicorn.conf.py portal.wsgi``, as ``make serve-production`` runs it."""
    return servers.start(list(GUNICORN_ARGV), env=env, name=name, timeout=60)


def api_document(
    *, name: str, base_path: str, greeting: str, client_id: bool = True, client_secret: bool = False
) -> dict[str, Any]:
    """A small API: ``GET {base_path}/hello`` answers ``greeting``; secured by client id (and secret)."""
    schemes = {"clientID": {"type": "apiKey", "in": "header", "name": "X-IBM-Client-Id"}}
    requirement: dict[str, list[str]] = {"clientID": []}
    if client_secret:
        schemes["clientSecret"] = {"type": "apiKey", "in": "header", "name": "X-IBM-Client-Secret"}
        requirement["clientSecret"] = []
    document: dict[str, Any] = {
        "swagger": "2.0",
        "info": {"title": name.replace("-", " ").title(), "x-ibm-name": name, "version": "1.0.0"},
        "basePath": base_path,
        "paths": {"/hello": {"get": {"responses": {"200": {"description": "a greeting"}}}}},
        "x-ibm-configuration": {
            "assembly": {
                "execute": [
                    {
                        "set-variable": {
                            "version": "2.0.0",
                            "title": "greet",
                            "actions": [{"set": "message.body", "value": greeting, "type": "string"}],
                        }
                    }
                ]
            }
        },
    }
    if client_id:
        document["securityDefinitions"] = schemes
        document["security"] = [requirement]
    return document


def import_and_publish(env: dict[str, str], directory: Path, document: dict[str, Any], catalog: str) -> None:
    """``manage.py import_api FILE --catalog C --publish``, the operator's publish."""
    path = directory / f"{document['info']['x-ibm-name']}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    manage(env, "import_api", str(path), "--catalog", catalog, "--publish")


# -- the machine's PostgreSQL and Redis, and private ones ------------------------------------------------------


@contextlib.contextmanager
def postgres_database(server: str = MACHINE_POSTGRES, *, prefix: str = "systest") -> Iterator[str]:
    """A new, empty database on ``server`` (dropped afterwards, connections and all); yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=10) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def redis_database(db: int, *, port: int = MACHINE_REDIS_PORT) -> Iterator[str]:
    """One Redis database number owned by one test: emptied before and after; yields its CACHE_URL."""
    client = redis.Redis(host=LOOPBACK, port=port, db=db, socket_timeout=5)
    try:
        client.flushdb()
        yield f"rediscache://{LOOPBACK}:{port}/{db}"
    finally:
        client.flushdb()
        client.close()


def _redis_answers(server: ServerProcess) -> bool:
    client = redis.Redis(host=LOOPBACK, port=server.port, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class PrivateRedis:
    """A Redis of one test, without persistence, under a ServerFactory: stop and start it at will (a restart
    is a new process on the same port, empty, as a Redis without persistence comes back)."""

    def __init__(self, servers: ServerFactory) -> None:
        self.servers = servers
        self.port = 0
        self.server: ServerProcess | None = None
        self.starts = 0

    @property
    def cache_url(self) -> str:
        return f"rediscache://{LOOPBACK}:{self.port}/0"

    def start(self) -> None:
        redis_server = shutil.which("redis-server") or "redis-server"
        argv = [redis_server, "--port", "{port}", "--bind", LOOPBACK, "--save", "", "--appendonly", "no"]
        argv += ["--daemonize", "no"]
        self.starts += 1
        self.server = self.servers.start(
            argv,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            name=f"redis-{self.starts}",
            port=self.port or None,
            ready=_redis_answers,
        )
        self.port = self.server.port

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


class PrivatePostgres:
    """A PostgreSQL cluster of one test (Debian's pg_createcluster, as root), on a free port, trust auth.

    ``stop`` and ``start`` it at will; ``drop`` removes it (always call it: the fixture does, in a finally).
    """

    VERSION = "15"

    def __init__(self) -> None:
        self.name = f"systest-{uuid.uuid4().hex[:10]}"
        self.port = free_port()
        self.created = False

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why a private cluster cannot be made here, or None when it can."""
        if not shutil.which("pg_createcluster") or not Path(f"/usr/lib/postgresql/{cls.VERSION}/bin").is_dir():
            return f"needs Debian's postgresql-common and PostgreSQL {cls.VERSION} (pg_createcluster)"
        if os.geteuid() != 0:
            return "needs root to create a private PostgreSQL cluster with pg_createcluster"
        return None

    @property
    def server_url(self) -> str:
        return f"postgres://postgres@{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        return Path(f"/var/log/postgresql/postgresql-{self.VERSION}-{self.name}.log")

    def _run(self, *argv: str) -> None:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}{done.stdout}"

    def create(self) -> None:
        self.created = True
        self._run(
            "pg_createcluster", self.VERSION, self.name, "-p", str(self.port), "--start-conf", "manual",
            "--", "--auth=trust",
        )  # fmt: skip
        self.start()

    def start(self) -> None:
        self._run("pg_ctlcluster", self.VERSION, self.name, "start")

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, as when the database host goes away."""
        self._run("pg_ctlcluster", self.VERSION, self.name, "stop", "-m", "fast")

    def drop(self) -> None:
        if self.created:
            self._run("pg_dropcluster", "--stop", self.VERSION, self.name)
            self.created = False

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# -- talking to a node ----------------------------------------------------------------------------------------


def kid(token: str) -> str:
    head = token.split(".")[0]
    value: str = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]
    return value


@dataclass
class Node:
    """One gunicorn node serving the demo (DESIGN.md section 1) in personal/sandbox."""

    server: ServerProcess
    client_id: str
    base_path: str = "/securetoken"

    @property
    def workers(self) -> int:
        """How many gunicorn workers serve it (``WEB_CONCURRENCY``, which ``portal_env`` sets)."""
        return int(self.server.env["WEB_CONCURRENCY"])

    def get(self, path: str, headers: dict[str, str] | None = None, *, timeout: float = 10.0) -> HttpAnswer:
        return http_get(self.server.url(path), headers, timeout=timeout)

    def generate(self, client_id: str | None = None) -> HttpAnswer:
        headers = {"X-IBM-Client-Id": client_id or self.client_id, "iss-claim": "apic", "aud-claim": "id1"}
        return self.get(f"/personal/sandbox{self.base_path}/generate", headers)

    def validate(self, token: str, client_id: str | None = None) -> HttpAnswer:
        headers = {"X-IBM-Client-Id": client_id or self.client_id, "Authorization": f"Bearer {token}"}
        return self.get(f"/personal/sandbox{self.base_path}/validate", headers)

    def jwks(self, catalog: str = "sandbox") -> HttpAnswer:
        return self.get(f"/personal/{catalog}/.well-known/jwks.json")

    def token(self) -> str:
        answer = self.generate()
        assert answer.status == 200, answer.text
        return answer.headers["authorization"].removeprefix("Bearer ")

    def jwks_kids(self) -> set[str]:
        answer = self.jwks()
        assert answer.status == 200, answer.text
        return {key["kid"] for key in json.loads(answer.body)["keys"]}

    def hello(self, base_path: str, *, catalog: str = "sandbox", client_id: str = "", secret: str = "") -> HttpAnswer:
        headers = {"X-IBM-Client-Id": client_id} if client_id else {}
        if secret:
            headers["X-IBM-Client-Secret"] = secret
        return self.get(f"/personal/{catalog}{base_path}/hello", headers)

    def readyz(self) -> tuple[int, dict[str, Any]]:
        answer = self.get("/readyz")
        return answer.status, json.loads(answer.body)


def burst(calls: Sequence[Callable[[], HttpAnswer]], *, threads: int = 8, rounds: int = 6) -> list[HttpAnswer]:
    """Each call ``rounds`` times from ``threads`` threads at once: with several connections waiting, every
    gunicorn worker takes some of them (a sync worker serves one request at a time)."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(call) for _ in range(rounds) for call in calls]
        return [future.result(timeout=60) for future in futures]


def poll(check: Callable[[], Any], *, since: float, within: float, what: str) -> tuple[Any, float]:
    """Call ``check`` every POLL_INTERVAL_SECONDS until it returns something truthy, for at most ``within``
    seconds after ``since`` (time.monotonic()); returns the value and the seconds since ``since``."""
    deadline = since + within
    while True:
        value = check()
        now = time.monotonic()
        if value:
            return value, now - since
        if now >= deadline:
            raise AssertionError(f"not within {within:.0f}s: {what}")
        time.sleep(POLL_INTERVAL_SECONDS)


def settle(env: dict[str, str], *nodes: Node) -> None:
    """Wait until every worker of ``nodes`` serves the configuration committed now (read in ``env``, as a
    management command reads it): each worker's /readyz reports that version or a later one, or that it has
    built nothing yet."""
    target = configuration_version(env)
    poll(
        lambda: all(every_worker_serves(node.server, target, workers=node.workers) for node in nodes),
        since=time.monotonic(),
        within=SWITCH_SECONDS,
        what=f"every worker of {', '.join(node.server.name for node in nodes)} serves configuration version {target}",
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect is the answer: the test looks at its status and Location


class ConsoleSession:
    """A browser's cookie jar against one node's console (loopback only); redirects are not followed."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect
        )

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> HttpAnswer:
        url = self.server.url(path)
        assert url.startswith(f"http://{LOOPBACK}:")
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
        request = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310 - loopback
        try:
            with self.opener.open(request, timeout=10) as response:
                return HttpAnswer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
        except urllib.error.HTTPError as e:
            with e:
                return HttpAnswer(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())

    def login(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> None:
        page = self.request("GET", "/admin/login/?next=/admin/")
        assert page.status == 200, page.text[:500]
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert found is not None, page.text[:500]
        form = {"csrfmiddlewaretoken": found.group(1), "username": username, "password": password, "next": "/admin/"}
        answer = self.request("POST", "/admin/login/?next=/admin/", form)
        assert answer.status == 302, answer.text[:500]


@dataclass
class Call:
    started: float  # time.monotonic()
    operation: str
    status: int  # 0: no answer at all
    body: str = ""


@dataclass
class Traffic:
    """Named requests in a loop on a thread, every answer recorded; bounded in calls and time."""

    operations: dict[str, Callable[[], HttpAnswer]]
    limit_seconds: float = 120.0
    limit_calls: int = 20000
    pause_seconds: float = 0.01
    calls: list[Call] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Traffic:
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit_seconds
        while not self._stop.is_set() and time.monotonic() < deadline and len(self.calls) < self.limit_calls:
            for name, operation in self.operations.items():
                started = time.monotonic()
                try:
                    answer = operation()
                except Exception as e:  # no answer at all is a failed call too; the test reports it
                    self.calls.append(Call(started, name, 0, f"{type(e).__name__}: {e}"))
                else:
                    self.calls.append(Call(started, name, answer.status, answer.text[:300]))
            self._stop.wait(self.pause_seconds)

    def between(self, start: float, end: float) -> list[Call]:
        return [call for call in self.calls if start <= call.started <= end]

    def failures(self) -> list[Call]:
        return [call for call in self.calls if call.status != 200]
