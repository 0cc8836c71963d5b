"""The gateway's per-call log line: one JSON object per gateway call, cheap on the request path and never lost
(README, "Running in production"; issue 16).

A line holds exactly the documented fields, in this order::

    {"time":"2026-12-02T17:30:22.123+00:00","level":"INFO","logger":"tokens.gateway.calls",
     "message":"gateway call","request_id":"...","organization":"personal","catalog":"sandbox",
     "api":"jwt-generation-and-validation 1.0.0","method":"GET","path":"/personal/sandbox/securetoken/generate",
     "status":200,"outcome":"success","latency_ms":3.57}

``path`` is the request's path without the query string (a caller may put a client id or a secret there);
nothing else of the request (headers, body, token) is ever in a line.

What it costs, and where (measured on this machine kind; README, "Benchmark"):

* On the request path (``log_call``): a ``LogRecord`` made without looking up the caller's frame, carrying
  the call's fields as one pre-shaped dict, and one ``put`` on a ``queue.SimpleQueue``: about 4 µs. No
  formatter runs there, and no thread is woken.
* Off it, in one writer thread per process: every ``FLUSH_SECONDS`` (or at once when the queue is full, or
  at exit), it serializes each queued dict once (the stdlib JSON encoder with compact separators; orjson
  would save about 2 µs a line, not worth a compiled dependency beside the ~500 µs a call costs) and writes
  the lines in chunks of whole lines of at most ``PIPE_BUF`` bytes, one ``write`` each, so that lines from
  several workers sharing a pipe or a file never interleave. Waking a listener for every line (the standard
  ``QueueListener``) cost more CPU than writing synchronously, as the two threads then trade the GIL on
  every call; waking it a few times a second costs nearly nothing.

When the sink is slow (a full pipe, a stalled log shipper), the queue absorbs up to ``CAPACITY`` lines; past
that, a request waits for room before it answers. That choice is deliberate: a gateway must log every call,
so lines are never dropped, and memory stays bounded; a sink that stalls for good slows the gateway to the
sink's pace, exactly as a synchronous handler would, only later.

Lines reach the sink at most ``FLUSH_SECONDS`` after their call. At exit, ``stop_listeners`` (registered with
``atexit``, and called by gunicorn's ``worker_exit`` hook in gunicorn.conf.py) writes every queued line
before the process ends; a line logged after that is written synchronously. Only a process killed outright
(SIGKILL, or gunicorn aborting a worker past its timeout) loses the lines still queued. A handler inherited
through ``fork`` (gunicorn's ``preload_app``) starts a queue and a writer of its own at the child's first
line: threads do not survive a fork, and the parent's queued lines stay the parent's to write.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import logging.handlers
import os
import queue
import select
import sys
import threading
import weakref
from datetime import UTC, datetime
from typing import TextIO

CALL_MESSAGE = "gateway call"
# The documented fields of a call line, in their order.
CALL_FIELDS = ("request_id", "organization", "catalog", "api", "method", "path", "status", "outcome", "latency_ms")
# The LogRecord attribute that carries a call's fields.
CALL_ATTRIBUTE = "gateway_call"
# Lines a process may hold before a request waits for the sink: about 10 MB, seconds of a busy worker.
CAPACITY = 10_000
# How long a line may wait in the queue before it is written.
FLUSH_SECONDS = 0.2
# The largest write a pipe takes whole (POSIX: at least 512; 4096 on Linux).
CHUNK_BYTES = select.PIPE_BUF

_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False, default=str)
_HANDLERS: weakref.WeakSet[QueuedCallHandler] = weakref.WeakSet()


def log_call(
    logger: logging.Logger,
    *,
    request_id: str,
    organization: str,
    catalog: str,
    api: str,
    method: str,
    path: str,
    status: int,
    latency_ms: float,
) -> None:
    """Log one gateway call on ``logger`` at INFO (the caller checks ``logger.isEnabledFor(logging.INFO)``
    first, so a disabled line costs nothing). ``outcome`` is ``success`` below status 400, else ``refused``.

    The record's pathname and line are left empty: looking up the caller's frame would cost as much as the
    rest of the record, and a call line always comes from the gateway's handler."""
    record = logger.makeRecord(logger.name, logging.INFO, "", 0, CALL_MESSAGE, (), None)
    setattr(
        record,
        CALL_ATTRIBUTE,
        {
            "request_id": request_id,
            "organization": organization,
            "catalog": catalog,
            "api": api,
            "method": method,
            "path": path,
            "status": status,
            "outcome": "success" if status < 400 else "refused",
            "latency_ms": latency_ms,
        },
    )
    logger.handle(record)


class CallLineFormatter(logging.Formatter):
    """One compact JSON object per record: ``time`` (ISO 8601, UTC, milliseconds), ``level``, ``logger``,
    ``message``, then the call's fields in their documented order. A record without call fields (another
    line logged on the calls logger) has the same shape without them, plus ``exc_info`` when it has one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, CALL_ATTRIBUTE, ()))
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return _ENCODER.encode(line)


class QueuedCallHandler(logging.handlers.QueueHandler):
    """A queue handler whose writer thread formats with ``CallLineFormatter`` and writes to ``stream``.

    Unlike the standard library's, it never formats on the caller's thread and never drops a record: when
    ``capacity`` records wait, the caller waits until the writer has made room. The writer starts at the
    first record of each process; ``stop_listener`` (or ``close``, or ``stop_listeners``) writes every queued
    record and stops it, and records after that are written synchronously.
    """

    def __init__(self, capacity: int = CAPACITY, stream: TextIO | None = None) -> None:
        """``stream``: where lines go; standard error (as the process has it at the first line) if None."""
        self.capacity = capacity
        self.stream = stream
        self._pending: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        super().__init__(self._pending)
        self.setFormatter(CallLineFormatter())
        self._writer: _LineWriter | None = None
        self._stopped = False
        _HANDLERS.add(self)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """The record as it is: the writer formats it (the standard handler would format it here, on the
        request path, to make the record safe to pickle, which an in-process queue never needs)."""
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        """Queue ``record``; when ``capacity`` records wait, wait until the writer has made room. After
        ``stop_listener``, or if the writer thread has died, write it at once.

        ``Handler.handle`` holds the handler's lock around this, so starting and stopping never race with it."""
        writer = self._writer
        if writer is None and not self._stopped:
            writer = self._writer = _LineWriter(self)
            writer.start()
        if writer is None or not writer.is_alive():
            self.write_lines([record])
            return
        self._pending.put(record)
        if self._pending.qsize() >= self.capacity:
            writer.make_room()

    def write_lines(self, records: list[logging.LogRecord]) -> None:
        """Format ``records`` and write them to the stream in chunks of whole lines of at most
        ``CHUNK_BYTES`` (a longer line goes alone), flushing after each chunk. A record that cannot be
        formatted is reported as logging reports handler errors, and the others are written."""
        stream = self.stream or sys.stderr
        chunk: list[str] = []
        size = 0
        for record in records:
            try:
                line = self.format(record) + "\n"
            except Exception:  # as logging.Handler.emit does: report it, keep the process and the other lines
                self.handleError(record)
                continue
            if chunk and size + len(line) > CHUNK_BYTES:
                self._write_chunk(stream, chunk, records[0])
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)  # JSON with ensure_ascii: one byte a character
        if chunk:
            self._write_chunk(stream, chunk, records[0])

    def _write_chunk(self, stream: TextIO, chunk: list[str], record: logging.LogRecord) -> None:
        try:
            stream.write("".join(chunk))
            stream.flush()
        except Exception:  # a closed or broken stream: reported as logging does, never raised into a request
            self.handleError(record)

    def stop_listener(self) -> None:
        """Write every queued record and stop the writer thread; write later records synchronously.
        Idempotent; waits as long as the sink takes."""
        self.acquire()
        try:
            writer, self._writer = self._writer, None
            self._stopped = True
            if writer is not None:
                writer.stop()
        finally:
            self.release()

    def close(self) -> None:
        self.stop_listener()
        super().close()

    def _after_fork_in_child(self) -> None:
        # The parent's writer thread does not exist here, and its queued records are its own to write.
        self._pending = queue.SimpleQueue()
        self.queue = self._pending
        self._writer = None
        self._stopped = False


class _LineWriter(threading.Thread):
    """The writer thread of one QueuedCallHandler: every FLUSH_SECONDS, or at once when asked, it takes every
    queued record and writes it."""

    def __init__(self, handler: QueuedCallHandler) -> None:
        super().__init__(name="gateway-call-log", daemon=True)
        self._handler = handler
        self._pending = handler._pending
        self._wake = threading.Event()
        self._room = threading.Event()
        self._stopping = False

    def run(self) -> None:
        while True:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            stopping = self._stopping
            self._write_pending()
            if stopping:
                return

    def _write_pending(self) -> None:
        while True:
            records: list[logging.LogRecord] = []
            with contextlib.suppress(queue.Empty):
                while len(records) < 256:
                    records.append(self._pending.get_nowait())
            if not records:
                return
            self._handler.write_lines(records)
            self._room.set()

    def make_room(self) -> None:
        """Wait until fewer than the handler's capacity records are queued (or the thread has ended)."""
        while self._pending.qsize() >= self._handler.capacity and self.is_alive():
            self._room.clear()
            self._wake.set()
            self._room.wait(FLUSH_SECONDS)

    def stop(self) -> None:
        """Write every queued record, then end the thread."""
        self._stopping = True
        self._wake.set()
        self.join()


def stop_listeners() -> None:
    """Stop every call handler's writer in this process, writing every queued line first. Safe to call
    more than once: at exit (``atexit``) and from gunicorn's ``worker_exit`` hook."""
    for handler in list(_HANDLERS):
        handler.stop_listener()


def _reset_after_fork() -> None:
    for handler in list(_HANDLERS):
        handler._after_fork_in_child()


atexit.register(stop_listeners)
os.register_at_fork(after_in_child=_reset_after_fork)
