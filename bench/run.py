"""The portal's benchmark: the JWT policies in process and the gateway over HTTP, each beside its references.

Run ``make bench`` (or ``.venv/bin/python -m bench.run``); it takes about four minutes on two cores and leaves
nothing behind. One run measures, side by side:

1. In process (bench/inprocess.py): the demo's ``jwt-generate`` and ``jwt-validate`` policies (RS256,
   RSA-2048, claims iss/aud/iat/exp/jti; validate checks signature, exp, iss and aud) against the bare
   ``cryptography`` sign/verify of the same bytes, the ``tokens.jose`` codec alone, PyJWT and joserfc.
   Fixed-count ``perf_counter`` loops; every round runs every contender, in a rotating order.
   Then what a trivial ``gatewayscript`` adds to a warm request's assembly (bench/gatewayscript.py; target
   at most 0.2 ms), and what an ``invoke`` adds beyond a loopback backend's own time (bench/invoke.py; target
   at most 1 ms).
2. Over HTTP (bench/server.py, bench/load.py): a throwaway portal (temp dir, SQLite, the demo seeded, its API
   republished with an hour of validity) under two ``gunicorn -c gunicorn.conf.py bench.wsgi``, one with 2
   workers and one with 1, loaded one at a time by ``wrk`` on 127.0.0.1: gateway generate and validate
   against three reference views served by the same gunicorn (bench/reference.py: PyJWT signing, PyJWT
   verifying, a minimal DRF APIView), and the gateway again on 1 worker. Every round runs every endpoint,
   in a rotating order.
3. The token service over HTTP, on the same 2-worker gunicorn and in the same rounds: ``POST .../tokens``
   and ``.../tokens/validate`` with a signer API key, against reference DRF views (bench/reference.py) that
   check a bearer key held in memory and sign or verify with PyJWT and the same pre-loaded key: the same
   claims (iss, aud, iat, exp, jti), and the same token validated (signature, exp, iss, aud).
4. Over HTTP in production mode (``_measure_production``): the same five endpoints on a third gunicorn with
   2 workers and the README's production settings (fresh SECRET_KEY and master key, DEBUG off, the per-call
   gateway log on and written to the server's log file, requests behind TLS as a load balancer forwards
   them), in rounds of their own; both modes are then printed side by side, and the gateway's log lines
   counted in the file.

How to read it: the tables give medians over the rounds (µs per operation; requests/s, p50 and p99 latency,
and the workers' CPU time per request). Every ratio is a throughput ratio, the median of the per-round
ratios so that a slow round slows both of its sides: higher is better, 1.00x is as fast as the reference.
Each is printed beside its target with PASS or BELOW. Requests/s depend on how much CPU the machine leaves
to the benchmark; the workers' CPU per request hardly does, so each HTTP ratio also shows the ratio of CPU
per request, and each worker-scaling ratio how many cores the workers actually got. The load average is
printed at start and end. The exit status is 0 whatever the ratios (machines are noisy; a benchmark never
fails a build); it is 1 only when the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as bench/run.py: import from the project root, not from bench/
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import gatewayscript, inprocess, invoke, load
from bench.server import PRODUCTION, BenchSetupError, Portal, Server, fetch
from bench.timing import Timing
from bench.workload import ALGORITHM, CLAIM_HEADERS, RSA_BITS, SERVICE_SIGN_BODY, SERVICE_VALIDATE_CHECKS

CONTENDERS = {
    "raw": "raw cryptography",
    "policy": "policy (jwt-generate / jwt-validate)",
    "codec": "tokens.jose codec only",
    "pyjwt": "PyJWT",
    "joserfc": "joserfc",
}


@dataclass(frozen=True)
class Ratio:
    label: str
    value: float
    target: float | None  # None: shown for information, no target
    note: str = ""

    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "PASS" if self.value >= self.target else "BELOW"


def main(argv: list[str] | None = None) -> int:
    options = _arguments(argv)
    started = time.monotonic()
    wrk_load = load.Load(threads=options.threads, connections=options.connections, seconds=options.seconds)
    print(
        f"Portal benchmark: {ALGORITHM}, RSA-{RSA_BITS}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average {_load_average()}"
    )
    if not shutil.which(load.WRK):
        print("benchmark not run: wrk is not installed (e.g. apt-get install wrk)", file=sys.stderr)
        return 1
    try:
        portal = Portal.create()
    except BenchSetupError as e:
        print(f"benchmark not run: {e}", file=sys.stderr)
        return 1
    try:
        timings = inprocess.measure(options.inprocess_rounds)
        _print_inprocess(timings, options.inprocess_rounds)
        gatewayscript.print_cost(gatewayscript.measure(options.gatewayscript_rounds), options.gatewayscript_rounds)
        invoke.print_cost(invoke.measure(options.invoke_rounds), options.invoke_rounds)
        http = _measure_http(portal, wrk_load, options.rounds)
        production = _measure_production(portal, wrk_load, options.rounds)
    except (BenchSetupError, load.WrkError) as e:
        print(f"benchmark stopped: {e}", file=sys.stderr)
        return 1
    finally:
        portal.close()
    _print_http(http, wrk_load, options.rounds)
    _print_modes(http, production)
    _print_ratios(_ratios(timings, http) + _production_ratios(production.measurements))
    print(f"\nTotal {time.monotonic() - started:.0f}s, load average {_load_average()}")
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="HTTP rounds per endpoint (default 5)")
    parser.add_argument("--seconds", type=int, default=2, help="seconds per wrk run, whole (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--inprocess-rounds", type=int, default=41, help="in-process rounds (default 41)")
    parser.add_argument(
        "--gatewayscript-rounds", type=int, default=15, help="gatewayscript in-process rounds (default 15)"
    )
    parser.add_argument("--invoke-rounds", type=int, default=9, help="invoke in-process rounds (default 9)")
    return parser.parse_args(argv)


def _load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# -- HTTP -------------------------------------------------------------------------------------------------------

GATEWAY_GENERATE, GATEWAY_VALIDATE = "gateway generate", "gateway validate"
PYJWT_SIGN, PYJWT_VERIFY, DRF = "PyJWT sign view", "PyJWT verify view", "DRF APIView"
SERVICE_SIGN, SERVICE_VALIDATE = "token service sign", "token service validate"
DRF_SIGN, DRF_VERIFY = "DRF+PyJWT sign view", "DRF+PyJWT verify view"

_ORDER = (
    GATEWAY_GENERATE, GATEWAY_VALIDATE, PYJWT_SIGN, PYJWT_VERIFY, DRF,
    SERVICE_SIGN, SERVICE_VALIDATE, DRF_SIGN, DRF_VERIFY,
)  # fmt: skip
Measurements = dict[tuple[str, int], load.Series]  # (endpoint, workers) -> one result per round


def _measure_http(portal: Portal, wrk_load: load.Load, rounds: int) -> Measurements:
    """Two gunicorns side by side, one with 2 workers and one with 1 (an idle sync server costs nothing);
    every round loads the nine endpoints of the first and the gateway's two of the second, one at a time, so
    that drift hits every figure alike and every ratio, worker scaling included, is paired by round. The
    order rotates from round to round, so that no endpoint always runs just after another."""
    with portal.serve(workers=2) as two, portal.serve(workers=1) as one:
        plan: list[tuple[Server, load.Endpoint]] = [(two, endpoint) for endpoint in _endpoints(portal, two)]
        plan += [(one, e) for e in _endpoints(portal, one) if e.name in (GATEWAY_GENERATE, GATEWAY_VALIDATE)]
        for server in (two, one):
            load.warm_up(server.base_url, [endpoint for owner, endpoint in plan if owner is server])
        measurements: Measurements = {}
        for round_number in range(rounds):
            shift = round_number % len(plan)
            for server, endpoint in plan[shift:] + plan[:shift]:
                result = load.run(server.base_url, endpoint, wrk_load, server.worker_cpu_seconds)
                measurements.setdefault((endpoint.name, server.workers), load.Series([])).results.append(result)
    return dict(sorted(measurements.items(), key=lambda item: (-item[0][1], _ORDER.index(item[0][0]))))


def _endpoints(portal: Portal, server: Server) -> list[load.Endpoint]:
    """The nine endpoints, with a freshly minted token for each validate; each is checked to answer 2xx."""
    client = {**server.headers, "X-IBM-Client-Id": portal.client_id}
    generate = load.Endpoint(GATEWAY_GENERATE, portal.gateway_path("/generate"), {**client, **CLAIM_HEADERS})
    pyjwt_sign = load.Endpoint(PYJWT_SIGN, "/bench/pyjwt/sign", {**server.headers, **CLAIM_HEADERS})
    gateway_token = _mint(server, generate)
    reference_token = _mint(server, pyjwt_sign)
    endpoints = [
        generate,
        load.Endpoint(GATEWAY_VALIDATE, portal.gateway_path("/validate"), {**client, "Authorization": gateway_token}),
        pyjwt_sign,
        load.Endpoint(PYJWT_VERIFY, "/bench/pyjwt/verify", {**server.headers, "Authorization": reference_token}),
        load.Endpoint(DRF, "/bench/drf", dict(server.headers)),
        *_service_endpoints(portal, server),
    ]
    for endpoint in endpoints:
        status, _, body = fetch(
            server.base_url + endpoint.path, endpoint.request_headers(), method=endpoint.method, body=endpoint.body
        )
        if status not in (200, 201):
            raise BenchSetupError(f"{endpoint.name} answered {status}: {body[:300]!r}")
    return endpoints


def _service_endpoints(portal: Portal, server: Server) -> list[load.Endpoint]:
    """The token service and its references; both validate endpoints check one token the service minted."""
    key = {**server.headers, "Authorization": f"Bearer {portal.api_key}"}
    sign_body = json.dumps(SERVICE_SIGN_BODY).encode()
    sign = load.Endpoint(SERVICE_SIGN, portal.service_path("tokens"), key, "POST", sign_body)
    status, _, body = fetch(server.base_url + sign.path, sign.request_headers(), method="POST", body=sign_body)
    if status != 201:
        raise BenchSetupError(f"{SERVICE_SIGN} gave no token (status {status}): {body[:300]!r}")
    token = json.loads(body)["token"]
    validate_body = json.dumps({"token": token, **SERVICE_VALIDATE_CHECKS}).encode()
    return [
        sign,
        load.Endpoint(SERVICE_VALIDATE, portal.service_path("tokens/validate"), key, "POST", validate_body),
        load.Endpoint(DRF_SIGN, "/bench/drf/sign", key, "POST", sign_body),
        load.Endpoint(DRF_VERIFY, "/bench/drf/verify", key, "POST", json.dumps({"token": token}).encode()),
    ]


def _mint(server: Server, endpoint: load.Endpoint) -> str:
    status, headers, body = fetch(server.base_url + endpoint.path, endpoint.headers)
    token = headers.get("authorization", "")
    if status != 200 or not token.startswith("Bearer "):
        raise BenchSetupError(f"{endpoint.name} gave no token (status {status}): {body[:300]!r}")
    return token


# -- HTTP in production mode -----------------------------------------------------------------------------------

# What a production-mode run compares: the gateway against the reference views, both under production settings.
_PRODUCTION_ENDPOINTS = (GATEWAY_GENERATE, GATEWAY_VALIDATE, PYJWT_SIGN, PYJWT_VERIFY, DRF)
CALL_LINE_MARK = '"logger":"tokens.gateway.calls"'


@dataclass(frozen=True)
class ProductionRun:
    measurements: Measurements
    call_lines: int  # gateway call lines in the server's log file
    gateway_requests: int  # gateway requests wrk completed (lines may be more: warm-up, minting, cut-off runs)
    log_name: str


def _measure_production(portal: Portal, wrk_load: load.Load, rounds: int) -> ProductionRun:
    """The five endpoints again, on a gunicorn with 2 workers in production mode (bench/server.py: the README's
    production settings, the per-call gateway log on and written to the server's log file, requests behind
    TLS as the load balancer forwards them), in rounds of their own with a rotating order, as
    ``_measure_http`` does; then counts the gateway's call lines in that file once the server has stopped."""
    with portal.serve(workers=2, mode=PRODUCTION) as server:
        plan = [e for e in _endpoints(portal, server) if e.name in _PRODUCTION_ENDPOINTS]
        load.warm_up(server.base_url, plan)
        measurements: Measurements = {}
        for round_number in range(rounds):
            shift = round_number % len(plan)
            for endpoint in plan[shift:] + plan[:shift]:
                result = load.run(server.base_url, endpoint, wrk_load, server.worker_cpu_seconds)
                measurements.setdefault((endpoint.name, server.workers), load.Series([])).results.append(result)
    assert server.log_path is not None  # Portal.serve always gives one
    text = server.log_path.read_text(encoding="utf-8", errors="replace")
    gateway = [series for (name, _), series in measurements.items() if name in (GATEWAY_GENERATE, GATEWAY_VALIDATE)]
    return ProductionRun(
        measurements=dict(sorted(measurements.items(), key=lambda item: _ORDER.index(item[0][0]))),
        call_lines=text.count(CALL_LINE_MARK),
        gateway_requests=sum(result.requests for series in gateway for result in series.results),
        log_name=server.log_path.name,
    )


def _print_modes(development: Measurements, production: ProductionRun) -> None:
    print("\nBoth modes side by side, 2 workers (production: PORTAL_MODE=production, DEBUG off, HTTPS behind the")
    print("load balancer, the per-call gateway log on and written to a file); medians of each mode's own rounds")
    print(f"  {'':22}{'development':>27}   {'production':>27}")
    print(f"  {'endpoint':22}{'req/s':>9}{'p50 ms':>8}{'CPU µs':>10}   {'req/s':>9}{'p50 ms':>8}{'CPU µs':>10}")
    for (name, workers), series in production.measurements.items():
        cells = []
        for result in (development[name, workers].median(), series.median()):
            cpu = f"{result.cpu_us_per_request:10.0f}" if result.cpu_us_per_request is not None else f"{'-':>10}"
            cells.append(f"{result.requests_per_second:9.0f}{result.p50_ms:8.2f}{cpu}")
        print(f"  {name:22}{cells[0]}   {cells[1]}")
    print(
        f"  per-call log (production): {production.call_lines} gateway lines in {production.log_name} "
        f"for {production.gateway_requests} gateway requests wrk completed"
    )
    if production.call_lines < production.gateway_requests:
        print("  warning: fewer log lines than gateway requests: the per-call log was not on for every call")


def _production_ratios(http: Measurements) -> list[Ratio]:
    def over_http(label: str, gateway: str, reference: str, target: float | None) -> Ratio:
        mine, theirs = http[gateway, 2], http[reference, 2]
        cpu = mine.cpu_ratio(theirs)
        note = f"by worker CPU per request {cpu:.2f}x" if cpu is not None else ""
        return Ratio(f"HTTP production  {label}", mine.throughput_ratio(theirs), target, note)

    return [
        over_http("generate / PyJWT sign view", GATEWAY_GENERATE, PYJWT_SIGN, 1.0),
        over_http("validate / PyJWT verify view", GATEWAY_VALIDATE, PYJWT_VERIFY, 1.0),
        over_http("validate / DRF APIView", GATEWAY_VALIDATE, DRF, None),
    ]


# -- report ----------------------------------------------------------------------------------------------------


def _ratios(timings: dict[str, dict[str, Timing]], http: Measurements) -> list[Ratio]:
    sign, verify = timings["sign"], timings["verify"]

    def in_process(label: str, results: dict[str, Timing], peer: str, target: float | None) -> Ratio:
        policy, other = results["policy"], results[peer]
        note = f"by CPU time {policy.cpu_speed_ratio(other):.2f}x"
        return Ratio(f"in process  {label}", policy.speed_ratio(other), target, note)

    def over_http(label: str, gateway: str, reference: str, target: float) -> Ratio:
        mine, theirs = http[gateway, 2], http[reference, 2]
        cpu = mine.cpu_ratio(theirs)
        note = f"by worker CPU per request {cpu:.2f}x" if cpu is not None else ""
        return Ratio(f"HTTP  {label}", mine.throughput_ratio(theirs), target, note)

    def scaling(label: str, gateway: str) -> Ratio:
        two, one = http[gateway, 2], http[gateway, 1]
        cores = two.median().cores, one.median().cores
        note = f"cores the workers got: {cores[0]:.2f} vs {cores[1]:.2f}" if None not in cores else ""
        return Ratio(f"HTTP  {label}", two.throughput_ratio(one), 1.7, note)

    return [
        in_process("sign: policy / raw cryptography", sign, "raw", 0.95),
        in_process("sign: policy / PyJWT", sign, "pyjwt", 1.0),
        in_process("sign: policy / joserfc", sign, "joserfc", None),
        in_process("verify: policy / raw cryptography", verify, "raw", 0.60),
        in_process("verify: policy / PyJWT", verify, "pyjwt", 1.5),
        in_process("verify: policy / joserfc", verify, "joserfc", None),
        over_http("generate / PyJWT sign view", GATEWAY_GENERATE, PYJWT_SIGN, 0.9),
        over_http("validate / PyJWT verify view", GATEWAY_VALIDATE, PYJWT_VERIFY, 0.9),
        over_http("validate / DRF APIView", GATEWAY_VALIDATE, DRF, 0.8),
        over_http("token service sign / DRF+PyJWT sign view", SERVICE_SIGN, DRF_SIGN, 0.85),
        over_http("token service validate / DRF+PyJWT verify", SERVICE_VALIDATE, DRF_VERIFY, 0.85),
        scaling("generate: 2 workers / 1 worker", GATEWAY_GENERATE),
        scaling("validate: 2 workers / 1 worker", GATEWAY_VALIDATE),
    ]


def _print_inprocess(timings: dict[str, dict[str, Timing]], rounds: int) -> None:
    sign, verify = timings["sign"], timings["verify"]
    print(
        f"\nIn process, medians of {rounds} interleaved rounds "
        f"({inprocess.SIGN_COUNT} signs, {inprocess.VERIFY_COUNT} verifies a round)"
    )
    print(f"  {'':38}{'sign µs':>9}{'/s':>8}{'x raw':>7}   {'verify µs':>9}{'/s':>8}{'x raw':>7}")
    for name, title in CONTENDERS.items():
        s, v = sign[name], verify[name]
        print(
            f"  {title:38}{s.microseconds:9.1f}{s.per_second:8.0f}{s.speed_ratio(sign['raw']):7.2f}"
            f"   {v.microseconds:9.1f}{v.per_second:8.0f}{v.speed_ratio(verify['raw']):7.2f}"
        )


def _print_http(http: Measurements, wrk_load: load.Load, rounds: int) -> None:
    print(
        f"\nOver HTTP: gunicorn sync workers, {wrk_load.describe()} on 127.0.0.1, "
        f"medians of {rounds} interleaved rounds"
    )
    print(f"  {'endpoint':40}{'req/s':>7}{'p50 ms':>8}{'p99 ms':>8}{'CPU µs/req':>12}{'cores':>7}{'failed':>8}")
    failed = []
    for (name, workers), series in http.items():
        title = f"{name} ({workers} worker{'s' if workers > 1 else ''})"
        result = series.median()
        cpu = f"{result.cpu_us_per_request:12.0f}" if result.cpu_us_per_request is not None else f"{'-':>12}"
        cores = f"{result.cores:7.2f}" if result.cores is not None else f"{'-':>7}"
        print(
            f"  {title:40}{result.requests_per_second:7.0f}{result.p50_ms:8.2f}{result.p99_ms:8.2f}"
            f"{cpu}{cores}{result.failures:8d}"
        )
        if result.failures:
            failed.append(title)
    print("  (CPU µs/req: user + system CPU time of the workers per request; cores: their CPU seconds per second)")
    if failed:
        print(f"  warning: failed requests on {', '.join(failed)}; those figures are not comparable")


def _print_ratios(ratios: list[Ratio]) -> None:
    print("\nRatios (throughput, median of per-round ratios; higher is better)")
    for ratio in ratios:
        target = f">= {ratio.target:.2f}x" if ratio.target is not None else "(peer)"
        note = f"  ({ratio.note})" if ratio.note else ""
        print(f"  {ratio.label:57}{ratio.value:6.2f}x  {target:9}{ratio.verdict():>6}{note}".rstrip())


if __name__ == "__main__":
    sys.exit(main())
