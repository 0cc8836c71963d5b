"""The ``TOKENS_GATEWAY`` settings namespace: the gateway runtime's tunables, read through one checked object.

Unknown names are refused (a typo must not silently fall back to a default), and the object reloads when
tests override settings (``settings.TOKENS_GATEWAY = {...}``), so no test patches a module global.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    # Seconds a JWKS answer may be cached by its readers (Cache-Control: max-age).
    "JWKS_MAX_AGE": 300,
    # The largest request body a gateway call may send, in bytes (a larger one is answered 413 unread).
    "MAX_BODY_BYTES": 1024 * 1024,
    # Apply configuration changes in a background thread, serving the current state meanwhile. Off, the
    # request that notices a change applies it first (the in-process tests, which share one transaction).
    "REFRESH_IN_BACKGROUND": True,
}


def _checked(name: str, value: Any) -> Any:
    if isinstance(DEFAULTS[name], bool):
        if not isinstance(value, bool):
            raise ImproperlyConfigured(f"TOKENS_GATEWAY[{name!r}] must be True or False, not {value!r}.")
    elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured(f"TOKENS_GATEWAY[{name!r}] must be a whole number of 0 or more, not {value!r}.")
    return value


class TokensSettings:
    def __init__(self) -> None:
        self._values: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        user = getattr(settings, "TOKENS_GATEWAY", {})
        unknown = set(user) - set(DEFAULTS)
        if unknown:
            raise ImproperlyConfigured(f"Unknown TOKENS_GATEWAY settings: {', '.join(sorted(unknown))}.")
        return {name: _checked(name, value) for name, value in {**DEFAULTS, **user}.items()}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown TOKENS_GATEWAY setting {name!r}.")
        if self._values is None:
            self._values = self._load()
        return self._values[name]

    def reload(self) -> None:
        self._values = None


tokens_settings = TokensSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "TOKENS_GATEWAY":
        tokens_settings.reload()


setting_changed.connect(_reload)
