"""Durations as people type them on the command line and in forms: ``90s``, ``15m``, ``2h``, ``7d``, ``1h30m``."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"(\d+)\s*([smhdw]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# A century: longer is a typo, and beyond datetime's range an overflow.
MAX_DURATION = timedelta(days=36525)


def parse_duration(text: str) -> timedelta:
    """``90``, ``90s``, ``15m``, ``2h``, ``7d``, ``1w`` or combinations such as ``1h30m``.

    Raises ValueError naming the text when it is not a duration, or is longer than a century.
    """
    cleaned = text.strip().lower()
    if not cleaned or len(cleaned) > 64 or _DURATION.sub("", cleaned).strip():
        raise ValueError(f"'{text[:64]}' is not a duration (use e.g. 90s, 15m, 2h, 7d or 1h30m).")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(cleaned))
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"'{text}' is longer than {MAX_DURATION.days} days (a century).")
    return timedelta(seconds=seconds)
