"""Checked settings namespaces: one per app, read through a small object (STYLE.md, "One settings namespace
per app"; django-oauth-toolkit's ``settings.py`` does the same).

An app declares its namespace once (``AppSettings("KEYPROFILES", DEFAULTS)``); the object then

* reads ``settings.<NAMESPACE>`` (a dict) over the defaults, on first use;
* refuses unknown names (a typo must not silently fall back to a default) and a value whose type is not the
  default's (an int where a float is expected passes), with ``ImproperlyConfigured`` naming the setting;
* reloads when tests override the namespace (``settings`` fixture, ``override_settings``), so tests change a
  tunable the way an operator does instead of patching a module global.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed


class AppSettings:
    """The settings of one namespace, as attributes: ``keyprofiles_settings.EXPIRY_WARNING_DAYS``."""

    def __init__(self, namespace: str, defaults: Mapping[str, Any]) -> None:
        self._namespace = namespace
        self._defaults = dict(defaults)
        self._values: dict[str, Any] | None = None
        setting_changed.connect(self._reload_when_changed, weak=False)

    def _load(self) -> dict[str, Any]:
        user = getattr(settings, self._namespace, {})
        unknown = set(user) - set(self._defaults)
        if unknown:
            raise ImproperlyConfigured(f"Unknown {self._namespace} settings: {', '.join(sorted(unknown))}.")
        for name, value in user.items():
            expected = type(self._defaults[name])
            accepted = (int, float) if expected is float else (expected,)
            if not isinstance(value, accepted) or (isinstance(value, bool) and expected is not bool):
                raise ImproperlyConfigured(
                    f"{self._namespace}[{name!r}] must be of type {expected.__name__}, not {type(value).__name__}."
                )
        return {**self._defaults, **user}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._defaults:
            raise AttributeError(f"Unknown {self._namespace} setting {name!r}.")
        if self._values is None:
            self._values = self._load()
        return self._values[name]

    def reload(self) -> None:
        self._values = None

    def _reload_when_changed(self, *, setting: str, **kwargs: Any) -> None:
        if setting == self._namespace:
            self.reload()
