"""The ``PORTAL_INVALIDATION`` settings namespace: how processes follow configuration changes
(``portal.invalidation``), read through one checked object.

Unknown names are refused (a typo must not silently fall back to a default), and the object reloads when
tests override settings (``settings.PORTAL_INVALIDATION = {"RECHECK_SECONDS": 0.0}``), so no test patches a
module global.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    # Seconds between two looks of a process at a version counter (the gateway's configuration, API keys).
    "RECHECK_SECONDS": 1.0,
    # Seconds the shared cache keeps its copy of a counter before readers go back to the database row.
    "COPY_SECONDS": 3,
    # Seconds after a commit by which every process serves it; None: derived, 2 x RECHECK_SECONDS + 0.5. A
    # rotation waits this long before the new key signs (tests that run in one process set 0).
    "PROPAGATION_SECONDS": None,
}


def _checked(name: str, value: Any) -> Any:
    if value is None and DEFAULTS[name] is None:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ImproperlyConfigured(f"PORTAL_INVALIDATION[{name!r}] must be a number of seconds, not {value!r}.")
    return value


class InvalidationSettings:
    def __init__(self) -> None:
        self._values: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        user = getattr(settings, "PORTAL_INVALIDATION", {})
        unknown = set(user) - set(DEFAULTS)
        if unknown:
            raise ImproperlyConfigured(f"Unknown PORTAL_INVALIDATION settings: {', '.join(sorted(unknown))}.")
        return {name: _checked(name, value) for name, value in {**DEFAULTS, **user}.items()}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown PORTAL_INVALIDATION setting {name!r}.")
        if self._values is None:
            self._values = self._load()
        return self._values[name]

    def reload(self) -> None:
        self._values = None


invalidation_settings = InvalidationSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "PORTAL_INVALIDATION":
        invalidation_settings.reload()


setting_changed.connect(_reload)
