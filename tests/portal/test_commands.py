"""Tests of portal.commands and portal.errors: the options every command shares (``--org``, ``--password-env``)
declared and read in one place, and the one translation of a domain refusal into ``CommandError``."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import get_commands, load_command_class
from django.core.management.base import CommandError

from keyprofiles.keymaterial import KeyMaterialError
from keyprofiles.sealing import SealingError
from portal.commands import PortalCommand
from portal.errors import REFUSALS, PortalError, refusal_text
from tokens.errors import ApiError, DocumentError, PolicyConfigError, PublishError, StaleDocumentError

# The --help text of --org, command by command: one declaration (PortalCommand.add_org_argument), same texts.
ORG_HELP = {
    "create_api_key": "Organization slug, e.g. personal.",
    "list_api_keys": "Only this organization.",
    "revoke_api_key": "Organization slug.",
}
USUAL_ORG_HELP = "Organization slug or title (default personal)."


def portal_commands() -> dict[str, PortalCommand]:
    found = {}
    for name, app in get_commands().items():
        if app.split(".")[0] in ("portal", "keyprofiles", "tokens"):
            command = load_command_class(app, name)
            if isinstance(command, PortalCommand):
                found[name] = command
    return found


def options_of(command: PortalCommand) -> dict[str, Any]:
    parser = command.create_parser("manage.py", "command")
    return {dest: action for action in parser._actions for dest in action.option_strings}


def test_every_command_of_the_portal_is_a_portal_command() -> None:
    """Each command gets the shared options and the refusal translation from PortalCommand."""
    for name, app in get_commands().items():
        if app.split(".")[0] in ("portal", "keyprofiles", "tokens"):
            assert isinstance(load_command_class(app, name), PortalCommand), name


def test_org_keeps_each_command_s_help_text_and_default() -> None:
    declared = {name: options_of(command).get("--org") for name, command in portal_commands().items()}
    with_org = {name: action for name, action in declared.items() if action is not None}
    assert len(with_org) >= 10
    for name, action in with_org.items():
        assert action.help == ORG_HELP.get(name, USUAL_ORG_HELP), name
        if name in ("create_api_key", "revoke_api_key"):
            assert (action.required, action.default) == (True, None)
        elif name == "list_api_keys":
            assert (action.required, action.default) == (False, None)
        else:
            assert (action.required, action.default) == (False, "personal"), name


def test_password_env_is_declared_alike_where_a_command_takes_a_password() -> None:
    with_password = {
        name: action
        for name, command in portal_commands().items()
        if (action := options_of(command).get("--password-env")) is not None
    }
    assert set(with_password) == {"import_keystore", "rotate_keyprofile"}
    assert {action.metavar for action in with_password.values()} == {"VAR"}


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"PASSPHRASE": "s3cret"}, b"s3cret"),
        ({}, "The environment variable PASSPHRASE named by --password-env is not set."),
        ({"PASSPHRASE": ""}, "The environment variable PASSPHRASE named by --password-env is empty."),
    ],
)
def test_password_from_env(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], expected: object) -> None:
    monkeypatch.delenv("PASSPHRASE", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    command = PortalCommand()
    if isinstance(expected, bytes):
        assert command.password_from_env("PASSPHRASE") == expected
        return
    with pytest.raises(CommandError, match=f"^{expected}$"):
        command.password_from_env("PASSPHRASE")


def test_no_password_env_means_no_password() -> None:
    assert PortalCommand().password_from_env(None) is None


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (
            ValidationError({"name": ["The name is taken."], "version": ["Not a version."]}),
            "The name is taken.; Not a version.",
        ),
        (ValidationError("Only one."), "Only one."),
        (KeyMaterialError("The key is too small.", code="rsa_key_too_small"), "The key is too small."),
        (PortalError("Refused."), "Refused."),
    ],
)
def test_refusal_text(error: Exception, text: str) -> None:
    assert isinstance(error, REFUSALS)
    assert refusal_text(error) == text


@pytest.mark.parametrize(
    "error_class", [DocumentError, StaleDocumentError, PolicyConfigError, PublishError, KeyMaterialError, SealingError]
)
def test_every_domain_error_is_a_portal_error(error_class: type[Exception]) -> None:
    assert issubclass(error_class, PortalError)


def test_the_api_refusals_share_one_base() -> None:
    """What the six (DocumentError, PolicyConfigError, PublishError) tuples caught is one class."""
    assert all(issubclass(cls, ApiError) for cls in (DocumentError, PolicyConfigError, PublishError))
    assert not issubclass(KeyMaterialError, ApiError)


class _Refusing(PortalCommand):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def add_arguments(self, parser: ArgumentParser) -> None:
        self.add_org_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [PublishError("The base path is taken."), ValidationError({"name": ["The base path is taken."]})],
)
def test_a_refusal_that_escapes_handle_ends_as_a_command_error(error: Exception) -> None:
    with pytest.raises(CommandError, match=r"^The base path is taken\.$"):
        _Refusing(error).run_from_argv(["manage.py", "refusing", "--traceback", "--skip-checks"])


def test_any_other_exception_is_not_dressed_as_a_refusal() -> None:
    """The twin: a programming error keeps its traceback."""
    with pytest.raises(KeyError):
        _Refusing(KeyError("bug")).run_from_argv(["manage.py", "refusing", "--traceback", "--skip-checks"])


def test_refused_prefixes_the_sentence() -> None:
    command = PortalCommand()
    with (
        pytest.raises(CommandError, match=r"^Keystore not imported: The key is too small\.$"),
        command.refused("Keystore not imported: "),
    ):
        raise KeyMaterialError("The key is too small.", code="rsa_key_too_small")
    with command.refused("Keystore not imported: "):
        pass  # nothing refused: nothing raised
