"""The gateway at scale (issue 14): 5,000 published APIs and 10,000 apps, on SQLite and on PostgreSQL + Redis.

Run ``make bench-scale`` (or ``.venv/bin/python -m bench.scale``); under five minutes on two cores, and it
leaves nothing behind (a temporary directory; on PostgreSQL its own database ``bench_scale``, dropped at the
end, and Redis database 5, flushed before and after: the test suite's are never touched).

For each setup it seeds ``seed_demo --apis N --apps M``, then serves the portal with two gunicorn workers,
each a one-worker ``gunicorn -c gunicorn.conf.py portal.wsgi`` of its own on a port of 127.0.0.1 (so that the
run can tell which worker answered, as a load balancer's health check can; every worker keeps its own warm
state, exactly as two workers of one master do), and prints each figure beside its target:

- **cold first request**: the first gateway call to each freshly started worker (both at once);
- **warm p50/p99, best and worst route**: ``GET .../generate`` on the demo's API (``/securetoken``) and on the
  last of the load's (``/demo-load-0NNNN``), paced, round-robin over the workers;
- **during a change storm**: the same calls while one change a second is made for 30 s (an app's secret,
  an app's client id, a republish, a deprecation and its reinstatement, in turn; a separate process makes
  them through the portal's services), p99 against twice the quiet p99, and the slowest call against 100 ms;
- **propagation**: from the commit of a client id reset until the new id is accepted by every worker
  (polled every 10 ms on each), five times;
- **RSS per worker** after all that;
- **catalog build in one process** and **distinct compiled assemblies**: the sandbox built as a worker's first
  request builds it, in a process of its own before the workers start (bench/scale_assemblies.py).

``--properties`` also runs every setup with ``seed_demo --properties`` (each load API reads its own value of
an API property, so no two share a compiled assembly) in a fresh database of its own, and prints its cold and
warm figures beside the plain load's. It doubles the run's time, so it is an option; the default run measures
the plain load only.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import queue
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
POSTGRES_DATABASE = "bench_scale"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "rediscache://127.0.0.1:6379/5")
PACE_SECONDS = 0.02  # one call every 20 ms per worker: load that leaves the two cores room to change things
START_TIMEOUT_SECONDS = 60.0

TARGETS = {
    "cold": 3.0,  # seconds, first request after start
    "propagation": 2.0,  # seconds until every worker serves a change
    "storm_max": 0.100,  # seconds, slowest call during the change storm
    "storm_p99_factor": 2.0,  # storm p99 at most this many times the quiet p99
    "route_spread": 1.10,  # worst route's p50 within 10% of the best's
    "rss_mb": 250.0,  # per worker
}


class BenchError(RuntimeError):
    """The scale benchmark could not run a step; the message says which."""


# -- the portal under test ------------------------------------------------------------------------------------


@dataclass
class Setup:
    name: str
    directory: Path
    environment: dict[str, str]
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    def manage(self, *args: str, timeout: float = 240.0) -> str:
        return self._python(str(ROOT / "manage.py"), *args, timeout=timeout)

    def run_module(self, module: str, timeout: float = 240.0) -> str:
        """Run ``python -m module`` in the portal's environment; its standard output."""
        return self._python("-m", module, timeout=timeout)

    def _python(self, *args: str, timeout: float) -> str:
        """Python with ``args`` in the portal's environment; its standard output. Raises BenchError with the end
        of its standard error when it fails."""
        result = subprocess.run(
            [sys.executable, *args],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            check=False,
        )
        if result.returncode != 0:
            shown = " ".join(args).replace(str(ROOT / "manage.py"), "manage.py")
            raise BenchError(f"{shown} failed:\n{result.stderr[-2000:]}")
        return result.stdout


def _environment(directory: Path, database_url: str, cache_url: str | None) -> dict[str, str]:
    master_key = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    environment = {
        **os.environ,
        "PORTAL_VAR_DIR": str(directory),
        "PORTAL_MASTER_KEYS": f"bench:{master_key}",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "ALLOWED_HOSTS": f"{LOOPBACK},localhost",
        "LOG_LEVEL": "WARNING",
        "GUNICORN_ACCESS_LOG": "",
        "GUNICORN_LOG_LEVEL": "warning",
        "WEB_CONCURRENCY": "1",
        "HOST": LOOPBACK,
        "PORTAL_ADMIN_PASSWORD": secrets.token_urlsafe(12),
    }
    for name in ("CACHE_URL", "PORTAL_MODE", "PORTAL_MASTER_KEY_ID", "GATEWAY_LOG_LEVEL", "PROMETHEUS_MULTIPROC_DIR"):
        environment.pop(name, None)
    if cache_url:
        environment["CACHE_URL"] = cache_url
    return environment


@contextmanager
def sqlite_setup() -> Iterator[Setup]:
    directory = Path(tempfile.mkdtemp(prefix="portal-scale-"))
    try:
        yield Setup(
            "SQLite, local-memory cache", directory, _environment(directory, f"sqlite:///{directory}/db.sqlite3", None)
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def postgres_setup() -> Iterator[Setup]:
    import psycopg
    import redis

    directory = Path(tempfile.mkdtemp(prefix="portal-scale-"))
    admin = POSTGRES_ADMIN_URL.replace("postgres://", "postgresql://", 1)
    redis_url = REDIS_URL.replace("rediscache://", "redis://", 1)
    database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{POSTGRES_DATABASE}"

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{POSTGRES_DATABASE}" WITH (FORCE)')

    try:
        drop()
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{POSTGRES_DATABASE}"')
        redis.Redis.from_url(redis_url).flushdb()
    except Exception as e:
        shutil.rmtree(directory, ignore_errors=True)
        raise BenchError(f"PostgreSQL or Redis unavailable ({POSTGRES_ADMIN_URL}, {REDIS_URL}): {e}") from e
    try:
        yield Setup("PostgreSQL + Redis", directory, _environment(directory, database_url, REDIS_URL))
    finally:
        try:
            redis.Redis.from_url(redis_url).flushdb()
            drop()
        finally:
            shutil.rmtree(directory, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def start_workers(setup: Setup, count: int) -> None:
    for index in range(count):
        port = _free_port()
        log = (setup.directory / f"gunicorn-{index}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "portal.wsgi"],
            env={**setup.environment, "PORT": str(port)},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        setup.servers.append(process)
        setup.ports.append(port)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    for port, process in zip(setup.ports, setup.servers, strict=True):
        while call(port, "/healthz")[0] != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"gunicorn on port {port} did not start; see {setup.directory}")
            time.sleep(0.05)


def stop_workers(setup: Setup) -> None:
    for process in setup.servers:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in setup.servers:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    setup.servers.clear()
    setup.ports.clear()


def worker_rss_mb(master: subprocess.Popen[bytes]) -> float:
    """The resident memory of the master's (only) worker, in MB."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[1]) == master.pid:
                for line in (stat.parent / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except (OSError, ValueError, IndexError):
            continue
    raise BenchError(f"no worker found for gunicorn {master.pid}")


# -- calls ---------------------------------------------------------------------------------------------------


def call(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, float]:
    """One GET on loopback (a new connection, as gunicorn's sync workers close each): status and seconds."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=60)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        status = response.status
    except (OSError, http.client.HTTPException):
        status = 0
    finally:
        connection.close()
    return status, time.perf_counter() - started


def answered_header(port: int, path: str, headers: dict[str, str], name: str) -> tuple[int, str | None]:
    """One GET on loopback: its status and the value of response header ``name`` (None when absent)."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=60)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader(name)
    finally:
        connection.close()


@dataclass
class Demo:
    client_id: str
    best: str  # the demo's generate
    worst: str  # the last load API's generate

    def headers(self, client_id: str | None = None) -> dict[str, str]:
        return {"X-IBM-Client-Id": client_id or self.client_id, "iss-claim": "apic", "aud-claim": "id1"}


def paced_calls(
    ports: list[int], paths: list[str], headers: dict[str, str], seconds: float
) -> list[tuple[str, int, float]]:
    """Calls every PACE_SECONDS per worker, cycling through ``paths``, for ``seconds``: (path, status, seconds)."""
    results: list[tuple[str, int, float]] = []
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def worker(port: int, offset: int) -> None:
        index = offset
        next_at = time.monotonic()
        while time.monotonic() < end:
            path = paths[index % len(paths)]
            status, elapsed = call(port, path, headers)
            with lock:
                results.append((path, status, elapsed))
            index += 1
            next_at += PACE_SECONDS
            time.sleep(max(0.0, next_at - time.monotonic()))

    threads = [threading.Thread(target=worker, args=(port, i)) for i, port in enumerate(ports)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# -- the process that makes changes ----------------------------------------------------------------------------


class Changer:
    """The process that makes changes through the portal's services (bench/scale_changes.py), on request."""

    def __init__(self, setup: Setup) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.scale_changes"],
            env=setup.environment,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise BenchError("the change process ended early")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def start_storm(self, seconds: float) -> queue.Queue[dict[str, Any]]:
        answers: queue.Queue[dict[str, Any]] = queue.Queue()
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"do": "storm", "seconds": seconds}) + "\n")
        self.process.stdin.flush()
        threading.Thread(target=lambda: answers.put(self._answer()), daemon=True).start()
        return answers

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


# -- one setup -----------------------------------------------------------------------------------------------


@dataclass
class Figures:
    setup: str
    properties: bool = False
    seed_seconds: float = 0.0
    build_seconds: float = 0.0
    routes: int = 0
    assemblies: int = 0
    cold: list[float] = field(default_factory=list)
    best_p50: float = 0.0
    best_p99: float = 0.0
    worst_p50: float = 0.0
    worst_p99: float = 0.0
    quiet_p99: float = 0.0
    quiet_max: float = 0.0
    storm_p99: float = 0.0
    storm_max: float = 0.0
    storm_calls: int = 0
    storm_errors: int = 0
    storm_changes: int = 0
    propagation: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)


def measure(
    setup: Setup, *, apis: int, apps: int, storm_seconds: float, quiet_seconds: float, properties: bool = False
) -> Figures:
    """Every figure of one setup, on the plain load or, with ``properties``, on ``seed_demo --properties``."""
    figures = Figures(setup.name, properties=properties)
    shape = " with properties" if properties else ""
    print(f"\n== {setup.name}: seeding {apis:,} APIs{shape} x {apps:,} apps ...", flush=True)
    setup.manage("migrate", "--noinput")
    started = time.perf_counter()
    seed = ["seed_demo", "--json", "--apis", str(apis), "--apps", str(apps)]
    summary = json.loads(setup.manage(*seed, *(["--properties"] if properties else [])))
    figures.seed_seconds = time.perf_counter() - started
    build = json.loads(setup.run_module("bench.scale_assemblies"))
    figures.build_seconds, figures.routes, figures.assemblies = (
        build["build_seconds"],
        build["routes"],
        build["assemblies"],
    )
    demo = Demo(
        client_id=summary["client_id"],
        best="/personal/sandbox/securetoken/generate",
        worst=f"/personal/sandbox/demo-load-{apis:05d}/generate",
    )
    print(f"   seeded in {figures.seed_seconds:.1f} s; starting 2 workers", flush=True)
    start_workers(setup, 2)
    changer = None
    try:
        cold: list[float] = [0.0, 0.0]

        def first(index: int) -> None:
            status, cold[index] = call(setup.ports[index], demo.best, demo.headers())
            if status != 200:
                raise BenchError(f"first call answered {status}")

        threads = [threading.Thread(target=first, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        figures.cold = cold
        if properties:
            check_tenants(setup.ports[0], demo, apis)

        quiet = paced_calls(setup.ports, [demo.best, demo.worst], demo.headers(), quiet_seconds)
        bad = [status for _, status, _ in quiet if status != 200]
        if bad:
            raise BenchError(f"{len(bad)} warm calls failed (status {bad[0]})")
        best = [t for path, _, t in quiet if path == demo.best]
        worst = [t for path, _, t in quiet if path == demo.worst]
        figures.best_p50, figures.best_p99 = statistics.median(best), percentile(best, 0.99)
        figures.worst_p50, figures.worst_p99 = statistics.median(worst), percentile(worst, 0.99)
        figures.quiet_p99 = percentile([t for _, _, t in quiet], 0.99)
        figures.quiet_max = max(t for _, _, t in quiet)

        print("   change storm ...", flush=True)
        changer = Changer(setup)
        answers = changer.start_storm(storm_seconds)
        storm = paced_calls(setup.ports, [demo.best, demo.worst], demo.headers(), storm_seconds)
        made = answers.get(timeout=storm_seconds + 60)
        figures.storm_changes = len(made["made"])
        figures.storm_calls = len(storm)
        figures.storm_errors = sum(1 for _, status, _ in storm if status != 200)
        figures.storm_p99 = percentile([t for _, _, t in storm], 0.99)
        figures.storm_max = max(t for _, _, t in storm)

        print("   propagation ...", flush=True)
        for n in range(5):
            answer = changer.ask(do="reset-client-id", n=n)
            path = f"/personal/sandbox{answer['path']}/generate"
            headers = demo.headers(answer["client_id"])
            seen: list[float] = []
            for port in setup.ports:
                deadline = time.monotonic() + 30
                while call(port, path, headers)[0] != 200:
                    if time.monotonic() > deadline:
                        raise BenchError("a change did not reach a worker within 30 s")
                    time.sleep(0.01)
                seen.append(time.time())
            figures.propagation.append(max(seen) - answer["committed"])
        figures.rss_mb = [worker_rss_mb(server) for server in setup.servers]
    finally:
        if changer is not None:
            changer.close()
        stop_workers(setup)
    return figures


def check_tenants(port: int, demo: Demo, apis: int) -> None:
    """Raise BenchError unless the last two load APIs (one with its document's value, one with an operator's)
    answer with their own tenant: the properties load is served as seeded."""
    for number in range(max(1, apis - 1), apis + 1):
        path = f"/personal/sandbox/demo-load-{number:05d}/generate"
        expected = f"tenant-{number:05d}"  # tokens.demo_load.load_tenant (this process does not set Django up)
        status, tenant = answered_header(port, path, demo.headers(), "X-Tenant")
        if status != 200 or tenant != expected:
            raise BenchError(f"{path} answered {status} with X-Tenant {tenant!r}, not {expected!r}")


# -- report --------------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(figures: Figures) -> list[str]:
    ms = 1000
    spread = figures.worst_p50 / figures.best_p50 if figures.best_p50 else float("nan")
    storm_factor = figures.storm_p99 / figures.quiet_p99 if figures.quiet_p99 else float("nan")
    rows = [
        (
            "seed (seed_demo --apis --apps" + (" --properties)" if figures.properties else ")"),
            f"{figures.seed_seconds:.1f} s",
            "-",
            "",
        ),
        ("catalog build in one process", f"{figures.build_seconds:.2f} s", "-", ""),
        ("distinct compiled assemblies", f"{figures.assemblies:,} for {figures.routes:,} routes", "-", ""),
        (
            "cold first request, per worker",
            " / ".join(f"{c:.2f} s" for c in figures.cold),
            f"< {TARGETS['cold']:.0f} s",
            verdict(max(figures.cold) < TARGETS["cold"]),
        ),
        (
            "warm p50 / p99, best route (/securetoken)",
            f"{figures.best_p50 * ms:.2f} / {figures.best_p99 * ms:.2f} ms",
            "-",
            "",
        ),
        (
            "warm p50 / p99, worst route (last load API)",
            f"{figures.worst_p50 * ms:.2f} / {figures.worst_p99 * ms:.2f} ms",
            "-",
            "",
        ),
        ("worst route p50 / best route p50", f"{spread:.2f}x", "<= 1.10x", verdict(spread <= TARGETS["route_spread"])),
        (
            f"storm: p99 ({figures.storm_changes} changes, {figures.storm_calls} calls)",
            f"{figures.storm_p99 * ms:.2f} ms = {storm_factor:.2f}x quiet p99 {figures.quiet_p99 * ms:.2f} ms",
            "<= 2x quiet p99",
            verdict(storm_factor <= TARGETS["storm_p99_factor"]),
        ),
        (
            "storm: slowest call",
            f"{figures.storm_max * ms:.1f} ms ({figures.storm_errors} errors; quiet: {figures.quiet_max * ms:.1f} ms)",
            "< 100 ms, no error",
            verdict(figures.storm_max < TARGETS["storm_max"] and figures.storm_errors == 0),
        ),
        (
            "change visible on every worker (5 resets)",
            f"median {statistics.median(figures.propagation):.2f} s, max {max(figures.propagation):.2f} s",
            "<= 2 s",
            verdict(max(figures.propagation) <= TARGETS["propagation"]),
        ),
        (
            "RSS per worker",
            " / ".join(f"{r:.0f} MB" for r in figures.rss_mb),
            "< 250 MB",
            verdict(max(figures.rss_mb) < TARGETS["rss_mb"]),
        ),
    ]
    width = max(len(row[0]) for row in rows)
    value_width = max(len(row[1]) for row in rows)
    title = figures.setup + (", load with properties" if figures.properties else "")
    lines = [f"\n{title}", "-" * len(title)]
    lines += [f"{a:<{width}}  {b:<{value_width}}  {c:<18} {d}" for a, b, c, d in rows]
    return lines


def comparison(plain: Figures, properties: Figures) -> list[str]:
    """The cold and warm figures of one setup's plain load beside its properties load's."""
    ms = 1000

    def cold(figures: Figures) -> str:
        return " / ".join(f"{c:.2f} s" for c in figures.cold)

    def warm(p50: float, p99: float) -> str:
        return f"{p50 * ms:.2f} / {p99 * ms:.2f} ms"

    rows = [
        ("", "plain load", "with properties"),
        ("distinct compiled assemblies", f"{plain.assemblies:,}", f"{properties.assemblies:,}"),
        ("catalog build in one process", f"{plain.build_seconds:.2f} s", f"{properties.build_seconds:.2f} s"),
        ("cold first request, per worker", cold(plain), cold(properties)),
        (
            "warm p50 / p99, best route",
            warm(plain.best_p50, plain.best_p99),
            warm(properties.best_p50, properties.best_p99),
        ),
        (
            "warm p50 / p99, worst route",
            warm(plain.worst_p50, plain.worst_p99),
            warm(properties.worst_p50, properties.worst_p99),
        ),
        (
            "RSS per worker",
            " / ".join(f"{r:.0f} MB" for r in plain.rss_mb),
            " / ".join(f"{r:.0f} MB" for r in properties.rss_mb),
        ),
    ]
    width = max(len(row[0]) for row in rows)
    value_width = max(len(row[1]) for row in rows)
    title = f"{plain.setup}: plain load and load with properties"
    lines = [f"\n{title}", "-" * len(title)]
    lines += [f"{a:<{width}}  {b:<{value_width}}  {c}" for a, b, c in rows]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    parser.add_argument("--apis", type=int, default=5000)
    parser.add_argument("--apps", type=int, default=10000)
    parser.add_argument("--storm-seconds", type=float, default=30.0)
    parser.add_argument("--quiet-seconds", type=float, default=8.0)
    parser.add_argument("--setups", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument(
        "--properties",
        action="store_true",
        help="also measure each setup with seed_demo --properties (no shared assembly), beside the plain load",
    )
    options = parser.parse_args(argv)
    setups = {"sqlite": sqlite_setup, "postgres": postgres_setup}
    chosen = [name.strip() for name in options.setups.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in setups]
    if unknown:
        parser.error(f"unknown setup {unknown[0]!r}: choose among {', '.join(setups)}")
    started = time.monotonic()
    print(f"Scale benchmark: {options.apis:,} APIs x {options.apps:,} apps; load average {os.getloadavg()[0]:.2f}")
    lines: list[str] = []
    try:
        for name in chosen:
            measured: list[Figures] = []
            for properties in (False, True) if options.properties else (False,):
                with setups[name]() as setup:  # a fresh database for each load
                    figures = measure(
                        setup,
                        apis=options.apis,
                        apps=options.apps,
                        storm_seconds=options.storm_seconds,
                        quiet_seconds=options.quiet_seconds,
                        properties=properties,
                    )
                measured.append(figures)
                lines += report(figures)
                print("\n".join(report(figures)), flush=True)
            if len(measured) == 2:
                lines += comparison(*measured)
                print("\n".join(comparison(*measured)), flush=True)
    except BenchError as e:
        print(f"\nbench-scale could not run: {e}", file=sys.stderr)
        return 1
    print(f"\nAll setups ({time.monotonic() - started:.0f} s); load average {os.getloadavg()[0]:.2f}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
