"""HTTP load with ``wrk`` on loopback: one run per endpoint and round; medians and paired ratios over rounds.

Besides wrk's requests/s and latency, each run records the CPU time the server's workers used per request
(user + system, from ``/proc``): unlike requests/s, it barely moves when other programs take CPU from the
benchmark, so it tells a slow endpoint from a busy machine.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

WRK = shutil.which("wrk") or "wrk"
_UNIT_MILLISECONDS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}

CpuClock = Callable[[], float | None]  # CPU seconds used so far by the server's workers, None if unknown


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    headers: dict[str, str]
    method: str = "GET"
    body: bytes | None = None  # sent as application/json (wrk through a Lua script)

    def request_headers(self) -> dict[str, str]:
        return {**self.headers, "Content-Type": "application/json"} if self.body is not None else self.headers


def _wrk_script(endpoint: Endpoint, directory: str) -> str:
    """A Lua file making wrk send ``endpoint``'s method and body (wrk's command line sets headers only)."""
    assert endpoint.body is not None
    body = endpoint.body.decode("utf-8")
    if "]==]" in body:
        raise WrkError(f"the body of {endpoint.name} cannot be quoted for wrk")
    path = os.path.join(directory, "request.lua")
    with open(path, "w", encoding="utf-8") as script:
        script.write(f'wrk.method = "{endpoint.method}"\nwrk.body = [==[{body}]==]\n')
    return path


@dataclass(frozen=True)
class Load:
    """How hard wrk pushes: threads, open connections, seconds per run."""

    threads: int = 2
    connections: int = 16
    seconds: int = 2  # wrk takes whole seconds only

    def describe(self) -> str:
        return f"wrk -t{self.threads} -c{self.connections} -d{self.seconds}s --latency"


@dataclass(frozen=True)
class Result:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    failures: int  # non-2xx/3xx answers plus socket errors
    requests: int = 0
    cpu_us_per_request: float | None = None  # the workers' user + system CPU time per request
    cores: float | None = None  # the workers' CPU seconds per second of the run: how many cores they got


class WrkError(RuntimeError):
    """wrk failed or printed something this parser does not understand."""


def run(base_url: str, endpoint: Endpoint, load: Load, cpu_clock: CpuClock | None = None) -> Result:
    """One wrk run against ``base_url + endpoint.path``; with ``cpu_clock``, the workers' CPU use too."""
    command = [WRK, f"-t{load.threads}", f"-c{load.connections}", f"-d{load.seconds}s", "--latency"]
    for name, value in endpoint.request_headers().items():
        command += ["-H", f"{name}: {value}"]
    with tempfile.TemporaryDirectory(prefix="portal-bench-wrk-") as directory:
        if endpoint.body is not None:
            command += ["-s", _wrk_script(endpoint, directory)]
        command.append(base_url + endpoint.path)
        cpu_before = cpu_clock() if cpu_clock else None
        started = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=load.seconds + 20, check=False)
        except subprocess.TimeoutExpired as e:
            raise WrkError(f"wrk on {endpoint.name} did not finish") from e
        elapsed = time.perf_counter() - started
        cpu_after = cpu_clock() if cpu_clock else None
    if done.returncode != 0:
        raise WrkError(f"wrk on {endpoint.name} failed: {done.stderr.strip() or done.stdout.strip()}")
    result = parse(done.stdout)
    if cpu_before is None or cpu_after is None or not result.requests:
        return result
    cpu = cpu_after - cpu_before
    return Result(
        requests_per_second=result.requests_per_second,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        failures=result.failures,
        requests=result.requests,
        cpu_us_per_request=cpu / result.requests * 1e6,
        cores=cpu / elapsed,
    )


def parse(output: str) -> Result:
    """Requests/s, p50, p99, failures and the request count from wrk's ``--latency`` report."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    count = re.search(r"^\s+(\d+) requests in ", output, re.MULTILINE)
    if not (rate and p50 and p99 and count):
        raise WrkError(f"unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    failures = int(non_2xx.group(1)) if non_2xx else 0
    if sockets:
        failures += sum(int(errors) for errors in sockets.groups())
    return Result(
        requests_per_second=float(rate.group(1)),
        p50_ms=float(p50.group(1)) * _UNIT_MILLISECONDS[p50.group(2)],
        p99_ms=float(p99.group(1)) * _UNIT_MILLISECONDS[p99.group(2)],
        failures=failures,
        requests=int(count.group(1)),
    )


def warm_up(base_url: str, endpoints: list[Endpoint], *, requests: int = 64, concurrency: int = 8) -> None:
    """A burst of concurrent requests on each endpoint, so that every worker has built its catalog state and
    done its lazy imports before anything is measured (wrk cannot run for less than a second)."""

    def call(endpoint: Endpoint) -> None:
        request = urllib.request.Request(  # noqa: S310 - loopback
            base_url + endpoint.path, data=endpoint.body, headers=endpoint.request_headers(), method=endpoint.method
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            response.read()

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for endpoint in endpoints:
            list(pool.map(call, [endpoint] * requests))


@dataclass
class Series:
    """One endpoint's results, one per round; rounds are paired across endpoints by index."""

    results: list[Result]

    def median(self) -> Result:
        cpu = [r.cpu_us_per_request for r in self.results if r.cpu_us_per_request is not None]
        cores = [r.cores for r in self.results if r.cores is not None]
        return Result(
            requests_per_second=statistics.median(r.requests_per_second for r in self.results),
            p50_ms=statistics.median(r.p50_ms for r in self.results),
            p99_ms=statistics.median(r.p99_ms for r in self.results),
            failures=sum(r.failures for r in self.results),
            requests=sum(r.requests for r in self.results),
            cpu_us_per_request=statistics.median(cpu) if cpu else None,
            cores=statistics.median(cores) if cores else None,
        )

    def throughput_ratio(self, other: Series) -> float:
        """Requests/s of this over ``other``: the median of the per-round ratios, so that load which slows a
        round slows both sides of its ratio."""
        pairs = zip(self.results, other.results, strict=True)
        return statistics.median(mine.requests_per_second / theirs.requests_per_second for mine, theirs in pairs)

    def cpu_ratio(self, other: Series) -> float | None:
        """How many times less worker CPU a request of this costs than one of ``other`` (median of rounds):
        the throughput ratio if the workers' CPU were all that limits it, as with sync workers on an idle
        machine."""
        pairs = [
            (mine.cpu_us_per_request, theirs.cpu_us_per_request)
            for mine, theirs in zip(self.results, other.results, strict=True)
            if mine.cpu_us_per_request and theirs.cpu_us_per_request
        ]
        return statistics.median(theirs / mine for mine, theirs in pairs) if pairs else None
