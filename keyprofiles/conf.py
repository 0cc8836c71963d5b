"""The ``KEYPROFILES`` settings namespace, read through one checked object.

Unknown names are refused (a typo must not silently fall back to a default), and the object reloads when
tests override settings.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    # "id:base64key,id2:base64key": 32-byte AES-256-GCM master keys. The first is active unless
    # ACTIVE_MASTER_KEY_ID names another.
    "MASTER_KEYS": "",
    "ACTIVE_MASTER_KEY_ID": "",
    # Development only: a local key ring file, created with a warning when MASTER_KEYS is empty.
    "MASTER_KEY_FILE": "",
    # Certificates expiring within this many days are flagged by check_key_expiry and the console.
    "EXPIRY_WARNING_DAYS": 30,
    "EXPIRY_NOTICE_DAYS": 90,
}


class KeyprofilesSettings:
    def __init__(self) -> None:
        self._values: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        user = getattr(settings, "KEYPROFILES", {})
        unknown = set(user) - set(DEFAULTS)
        if unknown:
            raise ImproperlyConfigured(f"Unknown KEYPROFILES settings: {', '.join(sorted(unknown))}.")
        return {**DEFAULTS, **user}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown KEYPROFILES setting {name!r}.")
        if self._values is None:
            self._values = self._load()
        return self._values[name]

    def reload(self) -> None:
        self._values = None


keyprofiles_settings = KeyprofilesSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "KEYPROFILES":
        keyprofiles_settings.reload()


setting_changed.connect(_reload)
