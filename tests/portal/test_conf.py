"""Tests of portal.conf.AppSettings, the checked settings namespace every app reads its tunables through."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from keyprofiles.conf import DEFAULTS, keyprofiles_settings
from portal.conf import AppSettings, whole_number

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


# -- a setting's own check ------------------------------------------------------------------------------------


def _words(value: Any) -> tuple[str, ...]:
    if not isinstance(value, str):
        raise ValueError(f"must be text, not {type(value).__name__}")
    return tuple(value.split())


checked_settings = AppSettings(
    "CHECKED", {"TRIES": 3, "WORDS": "a b"}, checks={"TRIES": whole_number(1, 5), "WORDS": _words}
)


def test_a_check_gives_what_the_setting_reads_as_for_the_default_too() -> None:
    assert (checked_settings.TRIES, checked_settings.WORDS) == (3, ("a", "b"))
    with override_settings(CHECKED={"TRIES": 5, "WORDS": "x"}):
        assert (checked_settings.TRIES, checked_settings.WORDS) == (5, ("x",))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"TRIES": 0}, "CHECKED['TRIES'] must be a whole number from 1 to 5, not 0."),
        ({"TRIES": 6}, "CHECKED['TRIES'] must be a whole number from 1 to 5, not 6."),
        ({"TRIES": True}, "CHECKED['TRIES'] must be a whole number from 1 to 5, not True."),
        ({"TRIES": 2.0}, "CHECKED['TRIES'] must be a whole number from 1 to 5, not 2.0."),
        ({"WORDS": ["a"]}, "CHECKED['WORDS'] must be text, not list."),
        ({"TRIE": 2}, "Unknown CHECKED settings: TRIE."),
    ],
)
def test_a_value_its_check_refuses_is_named_with_the_checks_reason(value: dict[str, Any], message: str) -> None:
    with override_settings(CHECKED=value), pytest.raises(ImproperlyConfigured, match=f"^{re.escape(message)}$"):
        _ = checked_settings.TRIES
