"""What an invoke policy adds beyond its backend's own time, in process (issue 13: at most 1 ms).

The backend is a minimal HTTP/1.1 server answering a small JSON document, in a child process of its own (so it
does not share this process's interpreter lock). Two clients call it, interleaved round by round:

- **direct**: one kept-alive ``http.client`` connection, the least a Python client can do per call: the
  backend's own time plus the loopback round trip;
- **invoke**: a compiled assembly holding one ``invoke`` policy (``target-url`` with ``$(request.parameters.id)``),
  run per "request" against a fresh ``Context`` from a WSGI environ, as the gateway runs it: the egress check
  (one address literal, no DNS), the pooled urllib3 connection, the response parsed as JSON into ``message``.

The figure is the median over rounds of the per-round difference, as wall time and as this thread's CPU time.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.timing import AddedCost, interleaved

TARGET_US = 1000.0
COUNT = 500  # calls per contender and round
BODY = json.dumps({"id": 7, "name": "widget", "price": 12.5, "tags": ["a", "b"]}).encode()
ENVIRON = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/personal/sandbox/shop/orders/7",
    "HTTP_HOST": "127.0.0.1:8000",
    "HTTP_USER_AGENT": "bench",
    "HTTP_ACCEPT": "application/json",
    "HTTP_X_IBM_CLIENT_ID": "0123456789abcdef0123456789abcdef",
}


class _Backend(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body go in two segments and wait for a delayed ACK

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _serve() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    print(server.server_address[1], flush=True)
    server.serve_forever()


class _NoKeys:
    def signing(self, name: str) -> Any:
        raise LookupError("the invoke benchmark names no key")

    verifying = signing


def _direct(port: int) -> Callable[[], Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port)

    def call() -> Any:
        connection.request("GET", "/orders/7", headers={"Accept": "application/json"})
        response = connection.getresponse()
        return json.loads(response.read())

    return call


def _invoke(port: int) -> Callable[[], Any]:
    from tokens.assembly import assembly_compile
    from tokens.context import Context
    from tokens.documents import Operation

    policy = {"invoke": {"title": "backend", "target-url": f"http://127.0.0.1:{port}/orders/$(request.parameters.id)"}}
    assembly = assembly_compile({"execute": [policy]}, _NoKeys())
    operation = Operation("GET", "/orders/{id}", None)

    def call() -> Any:
        context = Context(verb="GET", path="/orders/7", environ=ENVIRON, query={})
        context.set("api.operation", operation)
        assembly.run(context)
        return context.get("message.body")

    return call


def measure(rounds: int) -> AddedCost:
    """The added cost of an invoke per warm request. Raises RuntimeError when the invoke does not answer what
    the backend sends."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django
    from django.test.utils import override_settings

    django.setup()
    backend = subprocess.Popen([sys.executable, "-m", "bench.invoke"], stdout=subprocess.PIPE, text=True)
    try:
        assert backend.stdout is not None
        port = int(backend.stdout.readline())
        with override_settings(INVOKE={"ALLOW": f"127.0.0.1:{port}"}):
            direct, invoke = _direct(port), _invoke(port)
            answer = invoke()
            if answer != json.loads(BODY):
                raise RuntimeError(f"the benchmark's invoke answered {answer!r}")
            timings = interleaved({"direct": direct, "invoke": invoke}, COUNT, rounds)
    finally:
        backend.terminate()
        backend.wait(timeout=10)
    return AddedCost.between(baseline=timings["direct"], measured=timings["invoke"], target_us=TARGET_US)


def print_cost(cost: AddedCost, rounds: int) -> None:
    lines = cost.report(
        heading=f"invoke, in process: medians of {rounds} interleaved rounds ({COUNT} calls a round), loopback backend",
        baseline="backend called directly (kept-alive http.client)",
        measured="backend called by an invoke policy",
        unit="call",
        added="added by invoke beyond the backend's time",
    )
    print("\n".join(lines))


if __name__ == "__main__":
    _serve()
