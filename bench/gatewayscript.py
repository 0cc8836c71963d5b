"""What a gatewayscript policy adds to a warm gateway request, in process (issue 13: at most 0.2 ms).

Two assemblies compiled as publishing compiles them, each run per "request" against a fresh ``Context`` built
from a WSGI environ with a browser's worth of headers, as the gateway view builds it: a ``set-variable``
alone, and the same ``set-variable`` followed by the JWT tutorial's answering script (``apim.output``,
``apim.getvariable``, ``session.output.write``). The figure is the median over interleaved rounds of the
per-round difference, as wall time and as this thread's CPU time (which other programs do not inflate).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from bench.timing import AddedCost, interleaved

TARGET_US = 200.0
COUNT = 2000  # requests per contender and round
SCRIPT = (
    "var apim = require('apim');\n"
    "apim.output('application/json');\n"
    "session.output.write({\"jwt\": apim.getvariable('generated.jwt')});\n"
)
ENVIRON = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/personal/sandbox/tutorial/generate",
    "HTTP_HOST": "127.0.0.1:8000",
    "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) bench",
    "HTTP_ACCEPT": "application/json",
    "HTTP_ACCEPT_ENCODING": "gzip, deflate",
    "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9",
    "HTTP_CONNECTION": "keep-alive",
    "HTTP_X_IBM_CLIENT_ID": "0123456789abcdef0123456789abcdef",
    "HTTP_ISS_CLAIM": "apic",
    "HTTP_AUD_CLAIM": "id1",
    "HTTP_X_REQUEST_ID": "bench",
}


class _NoKeys:
    def signing(self, name: str) -> Any:
        raise LookupError("the gatewayscript benchmark names no key")

    verifying = signing


def _assemblies() -> tuple[Any, Any]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")  # the GATEWAYSCRIPT limits
    from tokens.assembly import assembly_compile

    token = {"set-variable": {"title": "token", "actions": [{"set": "generated.jwt", "value": "a.b.c"}]}}
    script = {"gatewayscript": {"title": "answer jwt", "source": SCRIPT}}
    return (
        assembly_compile({"execute": [token]}, _NoKeys()),
        assembly_compile({"execute": [token, script]}, _NoKeys()),
    )


def _request(assembly: Any) -> Callable[[], Any]:
    """One warm request's assembly work: a fresh context from the environ, then the assembly; returns it."""
    from tokens.context import Context

    def run() -> Any:
        context = Context(verb="GET", path="/generate", environ=ENVIRON, query={})
        assembly.run(context)
        return context

    return run


def measure(rounds: int) -> AddedCost:
    """The added cost of the script per warm request, interleaving the two assemblies round by round.
    Raises RuntimeError when the script does not answer what the tutorial's script answers."""
    without, with_script = (_request(assembly) for assembly in _assemblies())
    answer = with_script().get("message.body")
    if answer != {"jwt": "a.b.c"}:
        raise RuntimeError(f"the benchmark's gatewayscript answered {answer!r}")
    timings = interleaved({"without": without, "with": with_script}, COUNT, rounds)
    return AddedCost.between(baseline=timings["without"], measured=timings["with"], target_us=TARGET_US)


def print_cost(cost: AddedCost, rounds: int) -> None:
    lines = cost.report(
        heading=f"gatewayscript, in process: medians of {rounds} interleaved rounds ({COUNT} requests a round)",
        baseline="assembly without the script",
        measured="assembly with the script",
        unit="request",
        added="added by a trivial gatewayscript, warm",
    )
    print("\n".join(lines))
    print("  (CPU: this thread's CPU time, which other programs do not inflate; on a busy machine read that one)")
