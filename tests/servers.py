"""Real server processes for tests: start one on a loopback port, wait until it answers, stop it cleanly.

A test that needs real HTTP against real processes (gunicorn workers, several nodes sharing a database)
starts them through a ``ServerFactory``, usually from a fixture in the test module::

    @pytest.fixture
    def servers(tmp_path: Path) -> Iterator[ServerFactory]:
        with ServerFactory(log_dir=tmp_path / "logs") as factory:
            yield factory

    def test_something(servers: ServerFactory) -> None:
        node = servers.start(["gunicorn", "portal.wsgi", "-b", "127.0.0.1:{port}"], env=env, name="node-1")
        answer = http_get(node.url("/healthz"))

Each server's output goes to a log file. When a server does not come up, the error carries the end of its
log; when the factory stops its servers it prints the end of every log, which pytest shows only for a
failed test ("Captured stdout teardown"). Every server runs in its own process group, so stopping it stops
its workers too: SIGTERM first (a graceful shutdown), SIGKILL for whatever is left after the timeout.

``{port}`` is replaced in the environment's values too (``GUNICORN_BIND=127.0.0.1:{port}``). A server that
does not speak HTTP (Redis) is started with ``ready=``, a callable that says whether it answers yet, in place
of the ``/healthz`` check.

A test that waits for a change to reach every worker of a gunicorn server polls ``every_worker_serves`` (each
worker's ``/readyz`` reports the configuration version it serves) instead of sleeping.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


COMMAND_TIMEOUT_SECONDS = 120


def manage(env: Mapping[str, str], *args: str) -> str:
    """Run ``manage.py`` in its own process, as an operator would; returns its output. Fails the test with
    its output when it exits non-zero."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stderr}{done.stdout}"
    return done.stdout


class ServerError(Exception):
    """A server did not start (or stop) as asked; the message ends with the end of its log."""


def free_port() -> int:
    """A TCP port free on loopback right now (another process may still take it before the server binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def http_get(url: str, headers: Mapping[str, str] | None = None, *, timeout: float = 10.0) -> HttpAnswer:
    """One GET (loopback only): an HTTP error status is an answer, not an exception. Raises OSError (URLError,
    ConnectionError, TimeoutError) when there is no answer at all."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError(f"tests call servers on loopback only, not {url!r}")
    request = urllib.request.Request(url, headers=dict(headers or {}), method="GET")  # noqa: S310 - checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback, checked above
            return HttpAnswer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as e:
        with e:
            return HttpAnswer(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


@dataclass
class ServerProcess:
    """One server process: ``argv`` may hold ``{port}``, replaced by the port it listens on."""

    argv: Sequence[str]
    env: Mapping[str, str]
    port: int
    log_path: Path
    name: str = "server"
    cwd: Path = ROOT
    health_path: str = "/healthz"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # In place of the HTTP check of ``health_path``: True once the server answers (may raise OSError).
    ready: Callable[[ServerProcess], bool] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, *, timeout: float = 30.0) -> None:
        """Start the process and wait until ``health_path`` answers 200. Raises ServerError (with the end of
        the log) when it exits or does not answer within ``timeout`` seconds; the process is stopped then."""
        if self.process is not None:
            raise ServerError(f"{self.name} was started already")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = [part.replace("{port}", str(self.port)) for part in self.argv]
        env = {name: value.replace("{port}", str(self.port)) for name, value in self.env.items()}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaches every worker
            )
        try:
            self._wait_until_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_until_healthy(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            status = self.process.poll()
            if status is not None:
                raise ServerError(f"{self.name} exited with status {status} before answering:\n{self.log_tail()}")
            try:
                if self.ready is not None:
                    if self.ready(self):
                        return
                elif http_get(self.url(self.health_path), timeout=2.0).status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                what = "its readiness check" if self.ready is not None else self.health_path
                raise ServerError(f"{self.name} did not answer {what} within {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, *, timeout: float = 15.0) -> int | None:
        """SIGTERM to the process group, SIGKILL after ``timeout`` seconds. Idempotent; returns the exit status."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            # While the leader is alive (not yet reaped) the group id is surely ours.
            self._signal_group(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                process.wait()
        return process.returncode

    def _signal_group(self, signum: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def logs(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.logs().splitlines()[-lines:])


class ServerFactory:
    """Starts servers for one test and stops them all at the end, printing the end of each log."""

    def __init__(self, *, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.servers: list[ServerProcess] = []

    def start(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        name: str = "server",
        port: int | None = None,
        cwd: Path = ROOT,
        health_path: str = "/healthz",
        timeout: float = 30.0,
        attempts: int = 3,
        ready: Callable[[ServerProcess], bool] | None = None,
    ) -> ServerProcess:
        """Start ``argv`` (``{port}`` in it becomes the port) and wait until it is healthy.

        Without ``port``, a free one is chosen, and another when the first was taken meanwhile (up to
        ``attempts`` times). ``ready`` replaces the check of ``health_path`` (servers that do not speak HTTP).
        Raises ServerError with the end of the log.
        """
        for attempt in range(1, attempts + 1):
            server = ServerProcess(
                argv=argv,
                env=env,
                port=port or free_port(),
                log_path=self.log_dir / (f"{name}.log" if attempt == 1 else f"{name}.attempt-{attempt}.log"),
                name=name,
                cwd=cwd,
                health_path=health_path,
                ready=ready,
            )
            self.servers.append(server)
            try:
                server.start(timeout=timeout)
            except ServerError:
                port_taken = "Address already in use" in server.logs() or "Connection in use" in server.logs()
                if port is None and port_taken and attempt < attempts:
                    continue
                raise
            return server
        raise AssertionError("unreachable")

    def stop_all(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        for server in self.servers:
            print(f"----- {server.name} (pid {server.pid}, port {server.port}): end of {server.log_path} -----")
            print(server.log_tail(60))

    def __enter__(self) -> ServerFactory:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop_all()


# -- what each worker of a portal server serves -----------------------------------------------------------------


def configuration_version(env: Mapping[str, str]) -> int:
    """The gateway's configuration version committed now (the database row, as a management command run in
    ``env`` reads it)."""
    code = "from portal.invalidation import GATEWAY; print(GATEWAY.stored())"
    return int(manage(env, "shell", "-v", "0", "--no-imports", "-c", code))


def readyz_of_each_worker(server: ServerProcess, *, workers: int) -> list[dict[str, Any]]:
    """``/readyz`` as each of the server's ``workers`` (sync) workers answers it, one answer per worker.

    A sync worker serves one connection at a time, and the workers take connections from the listening
    socket's queue in the order they came. ``workers`` connections are opened and sent nothing, so a worker
    that takes one waits on it and takes no other. The last one is asked first: its answer means every earlier
    one was taken already (each by a worker of its own, still waiting), so the last was taken by the one
    worker left. Then the others are asked: one answer from each worker, whatever other clients do meanwhile.
    """
    connections = [socket.create_connection((LOOPBACK, server.port), timeout=10) for _ in range(workers)]
    answers = []
    try:
        for connection in reversed(connections):
            connection.sendall(f"GET /readyz HTTP/1.1\r\nHost: {LOOPBACK}\r\nConnection: close\r\n\r\n".encode())
            received = b""
            while chunk := connection.recv(65536):
                received += chunk
            answers.append(json.loads(received.partition(b"\r\n\r\n")[2]))
    finally:
        for connection in connections:
            connection.close()
    return answers


def every_worker_serves(server: ServerProcess, version: int, *, workers: int) -> bool:
    """True when each of the server's ``workers`` serves configuration ``version`` or a later one: its
    ``/readyz`` reports it as ``gateway_version``, or reports None (it has built nothing yet, so its first
    gateway request builds from what is committed then)."""
    served = [answer.get("gateway_version") for answer in readyz_of_each_worker(server, workers=workers)]
    return all(value is None or value >= version for value in served)
