"""Tests of portal.conf.AppSettings, the checked settings namespace every app reads its tunables through."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from keyprofiles.conf import DEFAULTS, keyprofiles_settings
from portal.conf import AppSettings

probe_settings = AppSettings("PROBE", {"LIMIT": 2.0, "COUNT": 3, "NAME": "x", "ENABLED": True})


def test_defaults_until_the_namespace_is_set() -> None:
    assert (probe_settings.LIMIT, probe_settings.COUNT, probe_settings.NAME) == (2.0, 3, "x")


def test_an_override_is_read_and_forgotten_with_it() -> None:
    with override_settings(PROBE={"COUNT": 5, "LIMIT": 1}):  # an int where a float is expected is fine
        assert (probe_settings.COUNT, probe_settings.LIMIT) == (5, 1)
    assert probe_settings.COUNT == 3


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"COUNTS": 5}, "Unknown PROBE settings: COUNTS."),
        ({"COUNT": "5"}, "PROBE['COUNT'] must be of type int, not str."),
        ({"COUNT": True}, "PROBE['COUNT'] must be of type int, not bool."),
        ({"LIMIT": "soon"}, "PROBE['LIMIT'] must be of type float, not str."),
        ({"ENABLED": 1}, "PROBE['ENABLED'] must be of type bool, not int."),
    ],
)
def test_unknown_names_and_wrong_types_are_refused(value: dict[str, Any], message: str) -> None:
    with override_settings(PROBE=value), pytest.raises(ImproperlyConfigured, match=f"^{re.escape(message)}$"):
        _ = probe_settings.COUNT


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="Unknown PROBE setting 'COUNTS'"):
        _ = probe_settings.COUNTS


def test_the_pkcs12_child_limits_are_keyprofiles_settings(settings: Any) -> None:
    assert keyprofiles_settings.PKCS12_WALL_SECONDS == DEFAULTS["PKCS12_WALL_SECONDS"] == 20
    settings.KEYPROFILES = {**settings.KEYPROFILES, "PKCS12_WALL_SECONDS": 5, "PKCS12_CPU_SECONDS": 1.5}
    assert (keyprofiles_settings.PKCS12_WALL_SECONDS, keyprofiles_settings.PKCS12_CPU_SECONDS) == (5, 1.5)
