"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py portal.wsgi` (README, "Running in production").

Signing is CPU-bound, so the default is one synchronous worker per core; every worker keeps its own warm
gateway state and parsed keys. Values come from the environment so the same file serves every host.
"""

import multiprocessing
import os
import sys

bind = os.environ.get("GUNICORN_BIND", f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}")  # noqa: S104
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "sync"
# A request that takes longer than this is killed; a signing request takes milliseconds, but an invoke may wait
# up to PORTAL_INVOKE_MAX_TIMEOUT_SECONDS for its backend (60, API Connect's default timeout). The worker must
# outlive the longest invoke, so that a slow backend ends as a ConnectionError the API can catch, not as a
# killed worker and gunicorn's HTML error page: by default, that longest invoke plus 15 s.
_longest_invoke = int(os.environ.get("PORTAL_INVOKE_MAX_TIMEOUT_SECONDS", "60"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", str(max(30, _longest_invoke + 15))))
if timeout <= _longest_invoke:
    sys.stderr.write(
        f"gunicorn.conf.py: GUNICORN_TIMEOUT={timeout} does not outlive the longest invoke "
        f"(PORTAL_INVOKE_MAX_TIMEOUT_SECONDS={_longest_invoke}): a backend that slow gets the worker killed.\n"
    )
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# Behind a load balancer that keeps connections open.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Import Django once before forking: faster worker start and shared memory. Database connections and keys
# are opened lazily in each worker, never before the fork.
preload_app = True
# One JSON line per request on stdout; GUNICORN_ACCESS_LOG="" turns it off (the gateway logs its own line).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
access_log_format = (
    '{"time":"%(t)s","remote":"%(h)s","method":"%(m)s","path":"%(U)s","status":%(s)s,'
    '"bytes":%(B)s,"duration_us":%(D)s,"request_id":"%({x-request-id}o)s"}'
)
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Trust X-Forwarded-* only from these addresses (the load balancer).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def worker_exit(server: object, worker: object) -> None:
    """Write every gateway call line still queued before the worker ends (portal/gateway_log.py; atexit does
    too, this hook makes it explicit on every way out of a worker gunicorn controls)."""
    from portal.gateway_log import stop_listeners

    stop_listeners()


def child_exit(server: object, worker: object) -> None:
    """Retire a dead worker's live gauges in prometheus-client's multiprocess directory (docs/metrics.md), so
    /metrics shows the configuration version of the workers that serve, not of those that were."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
