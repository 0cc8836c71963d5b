"""Logging filters that keep secrets sent in URLs out of the logs."""

from __future__ import annotations

import logging
import re

# From a '?' to the end of the URL: the next space (before the protocol in a request line) or quote.
_QUERY_STRING = re.compile(r"\?[^\s'\"]*")


class StripQueryStrings(logging.Filter):
    """Removes query strings from a record's message and string arguments; never drops a record.

    The development server (``django.server``) logs each request line, and a request may carry
    ``client_secret`` or ``client_id`` in its query (DESIGN.md section 4), refused or not. The path alone is
    enough to read the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _QUERY_STRING.sub("", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_QUERY_STRING.sub("", arg) if isinstance(arg, str) else arg for arg in record.args)
        return True
