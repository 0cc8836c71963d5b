"""portal.gateway_log: the line's exact shape, the writer thread that takes formatting and I/O off the request
path, back-pressure instead of loss when the sink is slow, whole-line chunks, and every queued line written
at exit and across a fork."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal import gateway_log
from portal.gateway_log import CALL_FIELDS, CHUNK_BYTES, CallLineFormatter, QueuedCallHandler, log_call

WAIT_LIMIT_SECONDS = 10.0  # a bound on polling loops, never an assertion on time


class RecordingStream(io.StringIO):
    """A stream that remembers each write and the thread that made it; it can hold writers back."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, str]] = []
        self.open_gate = threading.Event()
        self.open_gate.set()

    def write(self, text: str) -> int:
        self.open_gate.wait()
        self.writes.append((threading.current_thread().name, text))
        return super().write(text)

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.getvalue().splitlines()]


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("tests.gateway_log")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def _call(logger: logging.Logger, number: int, *, status: int = 200, path: str = "/o/c/api/op") -> None:
    log_call(
        logger,
        request_id=f"request-{number:05d}",
        organization="o",
        catalog="c",
        api="api 1.0.0",
        method="GET",
        path=path,
        status=status,
        latency_ms=1.5,
    )


def _handler(logger: logging.Logger, stream: io.StringIO, **options: int) -> QueuedCallHandler:
    handler = QueuedCallHandler(stream=stream, **options)  # type: ignore[arg-type]  # a StringIO is a TextIO
    logger.addHandler(handler)
    return handler


def _wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.01)


# -- the line -------------------------------------------------------------------------------------------------


def test_a_call_line_is_one_compact_json_object_with_the_documented_fields_in_order() -> None:
    record = logging.LogRecord("tokens.gateway.calls", logging.INFO, "", 0, "gateway call", (), None)
    record.created = 1796232808.25
    record.gateway_call = {  # type: ignore[attr-defined]
        "request_id": "r-1",
        "organization": "personal",
        "catalog": "sandbox",
        "api": "jwt 1.0.0",
        "method": "GET",
        "path": '/personal/sandbox/x"\n',
        "status": 200,
        "outcome": "success",
        "latency_ms": 0.42,
    }

    line = CallLineFormatter().format(record)

    assert line == (
        '{"time":"2026-12-02T17:33:28.250+00:00","level":"INFO","logger":"tokens.gateway.calls",'
        '"message":"gateway call","request_id":"r-1","organization":"personal","catalog":"sandbox",'
        '"api":"jwt 1.0.0","method":"GET","path":"/personal/sandbox/x\\"\\n","status":200,"outcome":"success",'
        '"latency_ms":0.42}'
    )  # a quote or a line break from the request is escaped: one line, never two


@pytest.mark.parametrize(("status", "outcome"), [(399, "success"), (400, "refused")])
def test_the_outcome_follows_the_status(status: int, outcome: str, logger: logging.Logger) -> None:
    stream = RecordingStream()
    handler = _handler(logger, stream)

    _call(logger, 1, status=status)
    handler.stop_listener()

    [line] = stream.lines()
    assert list(line)[4:] == list(CALL_FIELDS)
    assert (line["status"], line["outcome"]) == (status, outcome)


def test_another_line_on_the_calls_logger_has_the_same_shape_without_call_fields() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("tokens.gateway.calls", logging.ERROR, "", 0, "odd %s", ("thing",), sys.exc_info())

    line = json.loads(CallLineFormatter().format(record))

    assert list(line) == ["time", "level", "logger", "message", "exc_info"]
    assert (line["level"], line["message"]) == ("ERROR", "odd thing")
    assert "ValueError: boom" in line["exc_info"]


# -- the writer thread -----------------------------------------------------------------------------------------


def test_the_writer_thread_writes_queued_lines_and_the_caller_writes_after_stop(logger: logging.Logger) -> None:
    stream = RecordingStream()
    handler = _handler(logger, stream)

    _call(logger, 1)
    _wait_until(lambda: stream.writes, "the writer thread wrote the first line")
    handler.stop_listener()
    _call(logger, 2)  # the twin: after stop, the caller's own thread writes

    assert [thread for thread, _ in stream.writes] == ["gateway-call-log", threading.current_thread().name]
    assert [line["request_id"] for line in stream.lines()] == ["request-00001", "request-00002"]


def test_stopping_writes_every_queued_line_in_order(logger: logging.Logger) -> None:
    stream = RecordingStream()
    handler = _handler(logger, stream)

    for number in range(2000):
        _call(logger, number)
    handler.stop_listener()

    assert [line["request_id"] for line in stream.lines()] == [f"request-{number:05d}" for number in range(2000)]


def test_a_full_queue_makes_the_caller_wait_and_loses_no_line(logger: logging.Logger) -> None:
    stream = RecordingStream()
    stream.open_gate.clear()  # the sink stalls
    handler = _handler(logger, stream, capacity=4)
    caller = threading.Thread(target=lambda: [_call(logger, number) for number in range(40)])

    caller.start()
    _wait_until(lambda: handler.queue.qsize() >= 4, "the queue filled up")  # type: ignore[attr-defined]
    assert caller.is_alive()  # the caller waits for room: nothing was dropped to let it go on
    stream.open_gate.set()  # the sink recovers
    caller.join(WAIT_LIMIT_SECONDS)
    handler.stop_listener()

    assert not caller.is_alive()
    assert [line["request_id"] for line in stream.lines()] == [f"request-{number:05d}" for number in range(40)]


def test_lines_are_written_in_chunks_of_whole_lines_that_a_pipe_takes_whole(logger: logging.Logger) -> None:
    stream = RecordingStream()
    handler = _handler(logger, stream)

    for number in range(300):
        _call(logger, number)
    _call(logger, 300, path="/o/c/" + "x" * CHUNK_BYTES)  # one line longer than a chunk
    handler.stop_listener()

    chunks = [text for _, text in stream.writes]
    assert len(chunks) < 300 / 2  # many lines a write, not one each
    assert all(chunk.endswith("\n") for chunk in chunks)
    assert all(len(chunk) <= CHUNK_BYTES for chunk in chunks[:-1])
    assert chunks[-1].count("\n") == 1  # the long line goes alone
    assert len(chunks[-1]) > CHUNK_BYTES
    assert len(stream.lines()) == 301


# -- exit and fork ---------------------------------------------------------------------------------------------


EXIT_SCRIPT = """
import logging
from portal.gateway_log import QueuedCallHandler, log_call
logger = logging.getLogger("calls")
logger.setLevel(logging.INFO)
logger.addHandler(QueuedCallHandler())
for number in range(500):
    log_call(logger, request_id=f"r-{number}", organization="o", catalog="c", api="a", method="GET",
             path="/o/c/a", status=200, latency_ms=1.0)
"""  # and exits at once: no explicit stop, lines still queued


def test_a_process_that_exits_right_after_logging_writes_every_line() -> None:
    done = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [line["request_id"] for line in lines] == [f"r-{number}" for number in range(500)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_writes_its_own_lines_once_and_never_the_parents(logger: logging.Logger, tmp_path: Path) -> None:
    path = tmp_path / "calls.log"
    with path.open("a", encoding="utf-8") as stream:
        handler = _handler(logger, stream)  # type: ignore[arg-type]
        _call(logger, 1)  # the parent's writer thread is running...
        _wait_until(lambda: path.read_text(encoding="utf-8").count("\n") == 1, "the parent's first line")
        time.sleep(0.05)  # ...and idle again: a fork must not copy the stream's lock held
        for number in (2, 3):
            handler.queue.put(_record_for(logger, number))  # type: ignore[attr-defined]  # queued in the parent

        child = os.fork()
        if child == 0:  # the child: as a gunicorn worker after preload_app
            try:
                for number in (10, 11, 12):
                    _call(logger, number)
                handler.stop_listener()
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        handler.stop_listener()

    written = [json.loads(line)["request_id"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert sorted(written) == [f"request-{number:05d}" for number in (1, 2, 3, 10, 11, 12)]  # each once


def _record_for(logger: logging.Logger, number: int) -> logging.LogRecord:
    captured: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    keeper = logging.getLogger("tests.gateway_log.records")
    keeper.propagate = False
    keeper.setLevel(logging.INFO)
    keeper.addHandler(keep := Keep())
    try:
        _call(keeper, number)
    finally:
        keeper.removeHandler(keep)
    return captured[0]


def test_stop_listeners_stops_every_handler_of_the_process(logger: logging.Logger) -> None:
    stream = RecordingStream()
    handler = _handler(logger, stream)
    _call(logger, 1)

    gateway_log.stop_listeners()

    assert [line["request_id"] for line in stream.lines()] == ["request-00001"]
    assert handler._writer is None
