"""Durations as people type them on the command line and in forms: ``90s``, ``15m``, ``2h``, ``7d``, ``1h30m``."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"(\d+)\s*([smhdw]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``90``, ``90s``, ``15m``, ``2h``, ``7d``, ``1w`` or combinations such as ``1h30m``.

    Raises ValueError naming the text when it is not a duration.
    """
    cleaned = text.strip().lower()
    if not cleaned or _DURATION.sub("", cleaned).strip():
        raise ValueError(f"'{text}' is not a duration (use e.g. 90s, 15m, 2h, 7d or 1h30m).")
    return timedelta(seconds=sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(cleaned)))
