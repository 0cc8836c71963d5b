"""Checked settings namespaces: one per app, read through a small object (STYLE.md, "One settings namespace
per app"; django-oauth-toolkit's ``settings.py`` does the same).

An app declares its namespace once (``AppSettings("KEYPROFILES", DEFAULTS)``); the object then

* reads ``settings.<NAMESPACE>`` (a dict) over the defaults, on first use;
* refuses unknown names (a typo must not silently fall back to a default) and a value whose type is not the
  default's (an int where a float is expected passes), with ``ImproperlyConfigured`` naming the setting;
* runs a setting's own check where the app gives one (``checks={"NAME": check}``, in place of the type check):
  a range (``whole_number(1, 600)``) or a parser whose result is what the setting reads as (an allow list), on
  the default too;
* reloads when tests override the namespace (``settings`` fixture, ``override_settings``), so tests change a
  tunable the way an operator does instead of patching a module global.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

SettingCheck = Callable[[Any], Any]
"""A setting's own check: returns what the setting reads as (the value itself, or what it parses to), or raises
ValueError whose message completes the sentence "<NAMESPACE>['<NAME>'] ...", e.g. "must be ..."."""


def whole_number(low: int, high: int) -> SettingCheck:
    """A check: a whole number (an int, never a bool) from ``low`` to ``high``."""

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}, not {value!r}")
        return value

    return check


class AppSettings:
    """The settings of one namespace, as attributes: ``keyprofiles_settings.EXPIRY_WARNING_DAYS``."""

    def __init__(
        self, namespace: str, defaults: Mapping[str, Any], *, checks: Mapping[str, SettingCheck] | None = None
    ) -> None:
        self._namespace = namespace
        self._defaults = dict(defaults)
        self._checks = dict(checks or {})
        assert set(self._checks) <= set(self._defaults), "a check for a setting that has no default"
        self._values: dict[str, Any] | None = None
        setting_changed.connect(self._reload_when_changed, weak=False)

    def _load(self) -> dict[str, Any]:
        user = getattr(settings, self._namespace, {})
        unknown = set(user) - set(self._defaults)
        if unknown:
            raise ImproperlyConfigured(f"Unknown {self._namespace} settings: {', '.join(sorted(unknown))}.")
        for name, value in user.items():
            if name in self._checks:
                continue
            expected = type(self._defaults[name])
            accepted = (int, float) if expected is float else (expected,)
            if not isinstance(value, accepted) or (isinstance(value, bool) and expected is not bool):
                raise ImproperlyConfigured(
                    f"{self._namespace}[{name!r}] must be of type {expected.__name__}, not {type(value).__name__}."
                )
        values = {**self._defaults, **user}
        for name, check in self._checks.items():
            try:
                values[name] = check(values[name])
            except ValueError as e:
                raise ImproperlyConfigured(f"{self._namespace}[{name!r}] {e}.") from e
        return values

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


# The PORTAL_INVALIDATION namespace: how processes follow configuration changes (portal.invalidation).
# Its numbers are checked as seconds (none negative), which AppSettings' type check does not express.
INVALIDATION_DEFAULTS: dict[str, Any] = {
    # Seconds between two looks of a process at a version counter (the gateway's configuration, API keys).
    "RECHECK_SECONDS": 1.0,
    # Seconds the shared cache keeps its copy of a counter before readers go back to the database row.
    "COPY_SECONDS": 3,
    # Seconds after a commit by which every process serves it; None: derived, 2 x RECHECK_SECONDS + 0.5. A
    # rotation waits this long before the new key signs (tests that run in one process set 0).
    "PROPAGATION_SECONDS": None,
}


def _checked(name: str, value: Any) -> Any:
    if value is None and INVALIDATION_DEFAULTS[name] is None:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ImproperlyConfigured(f"PORTAL_INVALIDATION[{name!r}] must be a number of seconds, not {value!r}.")
    return value


class InvalidationSettings:
    def __init__(self) -> None:
        self._values: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        user = getattr(settings, "PORTAL_INVALIDATION", {})
        unknown = set(user) - set(INVALIDATION_DEFAULTS)
        if unknown:
            raise ImproperlyConfigured(f"Unknown PORTAL_INVALIDATION settings: {', '.join(sorted(unknown))}.")
        return {name: _checked(name, value) for name, value in {**INVALIDATION_DEFAULTS, **user}.items()}

    def __getattr__(self, name: str) -> Any:
        if name not in INVALIDATION_DEFAULTS:
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
