"""The development server's request lines (logger ``django.server``, as configured in portal.settings) carry no
query string: a ``?client_secret=...`` stays out of the development log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from django.core.servers.basehttp import WSGIRequestHandler


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def server_lines() -> Iterator[list[str]]:
    """What runserver's request handler logs, as messages, through the logger the settings configured."""
    lines = Lines()
    logger = logging.getLogger("django.server")
    logger.addHandler(lines)
    try:
        yield lines.lines
    finally:
        logger.removeHandler(lines)


def log_request_line(request_line: str, status: str) -> None:
    """Log the way runserver does for each request (Django's own WSGIRequestHandler.log_message)."""
    handler = SimpleNamespace(request=None, log_date_time_string=lambda: "02/Dec/2026 18:00:00")
    WSGIRequestHandler.log_message(handler, '"%s" %s %s', request_line, status, "97")  # type: ignore[arg-type]


def test_a_request_line_loses_its_query_string(server_lines: list[str]) -> None:
    log_request_line("GET /personal/sandbox/securetoken/generate?client_id=a&client_secret=s3cr3t HTTP/1.1", "401")
    assert server_lines == ['"GET /personal/sandbox/securetoken/generate HTTP/1.1" 401 97']


def test_a_request_line_without_a_query_string_is_logged_as_it_is(server_lines: list[str]) -> None:
    """The twin: the same line without a query string is unchanged."""
    log_request_line("GET /personal/sandbox/securetoken/generate HTTP/1.1", "401")
    assert server_lines == ['"GET /personal/sandbox/securetoken/generate HTTP/1.1" 401 97']
