"""The gateway's per-request cost in process: the bench server's WSGI application called without HTTP.

``python -m bench.hotpath`` makes the benchmark's throwaway portal (bench/server.py ``Portal.create``), loads
``bench.wsgi`` in this process with its environment, and calls the gateway's generate and validate and the two
PyJWT reference views (bench/reference.py) with WSGI environs as gunicorn builds them: no socket, no worker,
so what is left is the portal's own per-request work. It prints microseconds per request (wall and this
thread's CPU time, medians of interleaved rounds), and with ``--profile`` the functions that cost the most
beyond the RSA operation (cProfile, by own time). With ``--hooks``, it measures only what the assembly's run
path adds to a call (no portal needed). For instruction counts, run the same calls under
``valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce`` driving the measured loop
with ``functools.reduce`` (docs/benchmark-results.md, session 4).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
from collections.abc import Callable, Iterable
from typing import Any

from bench.server import Portal
from bench.timing import interleaved
from bench.workload import CLAIM_HEADERS

COUNT = {"sign": 100, "verify": 1000}  # requests per endpoint and round: a few tenths of a second each
HOOK_COUNT = 20000  # calls per round of the run path's measurement (--hooks)

Call = Callable[[], bytes]


def _environ(path: str, headers: dict[str, str]) -> dict[str, Any]:
    """A GET as gunicorn hands it to the application (PEP 3333), on loopback."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "bench",
        "HTTP_ACCEPT": "*/*",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _caller(application: Any, path: str, headers: dict[str, str]) -> Call:
    """One request per call: the answer's body; raises RuntimeError for an answer other than 200."""
    template = _environ(path, headers)
    statuses: list[str] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        statuses.append(status)

    def call() -> bytes:
        statuses.clear()
        environ = dict(template)
        environ["wsgi.input"] = io.BytesIO(b"")
        result: Iterable[bytes] = application(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not statuses or not statuses[0].startswith("200"):
            raise RuntimeError(f"{path} answered {statuses[0] if statuses else 'nothing'}: {body[:200]!r}")
        return body

    return call


def _calls(portal: Portal) -> dict[str, tuple[str, Call]]:
    """The four requests by name, each with its kind ("sign" or "verify"), the application loaded here."""
    os.environ.update(portal.environment)
    from bench.wsgi import application  # the environment must be set first: it configures Django

    client = {"X-IBM-Client-Id": portal.client_id}
    generate = _caller(application, portal.gateway_path("/generate"), {**client, **CLAIM_HEADERS})
    sign = _caller(application, "/bench/pyjwt/sign", CLAIM_HEADERS)
    token = _token(application, portal.gateway_path("/generate"), {**client, **CLAIM_HEADERS})
    reference_token = _token(application, "/bench/pyjwt/sign", CLAIM_HEADERS)
    validate = _caller(application, portal.gateway_path("/validate"), {**client, "Authorization": f"Bearer {token}"})
    verify = _caller(application, "/bench/pyjwt/verify", {"Authorization": f"Bearer {reference_token}"})
    return {
        "gateway generate": ("sign", generate),
        "PyJWT sign view": ("sign", sign),
        "gateway validate": ("verify", validate),
        "PyJWT verify view": ("verify", verify),
    }


def _token(application: Any, path: str, headers: dict[str, str]) -> str:
    """The bearer token a signing endpoint answers with (the gateway's first call builds its warm state)."""
    answer: dict[str, str] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer.update((name.lower(), value) for name, value in response_headers)

    b"".join(application(_environ(path, headers), start_response))
    return answer["authorization"].removeprefix("Bearer ")


class _NoKeys:
    def signing(self, name: str) -> Any:
        raise LookupError("the hooks' assembly names no key")

    verifying = signing


def _hook_calls() -> dict[str, Callable[[], object]]:
    """What the run path adds to a call: one ``set-variable`` run as the gateway runs it (a fresh context from
    an environ, then ``CompiledAssembly.run``) with no scope, with an ``ApiScope``, and with a scope and an
    activity-log, beside the same work called directly (the context, ``ApiScope.enter``, the policy)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from tokens.activity import ActivityLogSettings
    from tokens.assembly import assembly_compile
    from tokens.context import Context
    from tokens.scope import ApiScope

    assembly = {"execute": [{"set-variable": {"title": "one", "actions": [{"set": "x", "value": "1"}]}}]}
    scope = ApiScope(api_name="hooks", api_version="1.0.0", catalog="sandbox", organization="personal")
    logged = ApiScope(
        api_name="hooks", api_version="1.0.0", catalog="sandbox", organization="personal",
        activity=ActivityLogSettings(success_content="none", error_content="none"),
    )  # fmt: skip
    plain = assembly_compile(assembly, _NoKeys())
    scoped, with_log = plain.in_scope(scope), plain.in_scope(logged)
    (policy,) = plain.policies
    environ = _environ("/personal/sandbox/hooks/go", {"X-IBM-Client-Id": "bench"})

    def direct() -> object:
        context = Context(verb="GET", path="/go", environ=environ)
        scope.enter(context)
        policy.run(context)
        return context

    def run(compiled: Any) -> Callable[[], object]:
        def call() -> object:
            context = Context(verb="GET", path="/go", environ=environ)
            compiled.run(context)
            return context

        return call

    return {
        "direct: context, enter, policy": direct,
        "run, no scope": run(plain),
        "run, scope": run(scoped),
        "run, scope and activity-log": run(with_log),
    }


def _profile(call: Call, count: int, top: int) -> str:
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(count):
        call()
    profile.disable()
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    stats.sort_stats("tottime").print_stats(top)
    return text.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (default 9)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of each gateway call")
    parser.add_argument("--top", type=int, default=25, help="functions shown per profile (default 25)")
    parser.add_argument("--hooks", action="store_true", help="only what the assembly's run path adds to a call")
    options = parser.parse_args(argv)
    if options.hooks:
        for name, timing in interleaved(_hook_calls(), HOOK_COUNT, options.rounds).items():
            print(f"{name:32} {timing.cpu_microseconds * 1000:8.0f} ns/call CPU")
        return 0
    portal = Portal.create()
    try:
        calls = _calls(portal)
        for kind in ("sign", "verify"):
            chosen = {name: call for name, (of_kind, call) in calls.items() if of_kind == kind}
            timings = interleaved(chosen, COUNT[kind], options.rounds)
            for name, timing in timings.items():
                print(f"{name:20} {timing.microseconds:8.1f} µs/request   CPU {timing.cpu_microseconds:8.1f} µs")
        if options.profile:
            for name in ("gateway generate", "gateway validate"):
                kind, call = calls[name]
                print(f"\n{name}: {COUNT[kind]} requests\n{_profile(call, COUNT[kind], options.top)}")
    finally:
        portal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
