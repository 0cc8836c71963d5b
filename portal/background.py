"""A step a request starts but does not wait for, such as the activation of a rotated key in the console.

``run_later`` runs a piece of work a few seconds after the current transaction commits, in a daemon thread
of the same process, so the request answers at once. It is a convenience, never the only way the work
happens: a thread dies with its process (a gunicorn worker restarted, a deploy), so the work must also be
done by a command run from cron (for key activation: ``manage.py retire_keys``), and must be idempotent
since both may do it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.db import connections, transaction

logger = logging.getLogger(__name__)

THREAD_NAME_PREFIX = "portal-background-"


def run_later(*, seconds: float, work: Callable[[], object], name: str) -> None:
    """Run ``work`` ``seconds`` after the current transaction commits (at once when none is open), in a
    daemon thread named ``portal-background-<name>``; nothing runs if the transaction rolls back.

    A failure of ``work`` is logged, not raised: the request that scheduled it has answered already.
    """

    def start() -> None:
        thread = threading.Thread(
            target=_run, args=(max(0.0, seconds), work, name), name=THREAD_NAME_PREFIX + name, daemon=True
        )
        thread.start()

    transaction.on_commit(start)


def _run(seconds: float, work: Callable[[], object], name: str) -> None:
    try:
        time.sleep(seconds)
        work()
    except Exception:
        logger.exception("The background step %s failed; the command that also does it will.", name)
    finally:
        # The thread's own database connections: Django opens one per thread and closes only the request's.
        connections.close_all()
