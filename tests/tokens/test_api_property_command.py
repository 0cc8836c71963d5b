"""``list_api_properties``, ``set_api_property`` and ``clear_api_property``: an API's property values in a
catalog from the command line, the value from an argument, a file or standard input; refusals, dry runs and
exit statuses."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from django.db import connections

from keyprofiles.models import KeyProfile
from portal.models import AuditEvent, Catalog
from portal.services import Actor
from tests.tokens.helpers import KEY_OBJECT, answer, api_document, open_api, sandbox_body
from tokens.models import Api, ApiPropertyValue
from tokens.properties import api_property_set
from tokens.services import api_publish, api_save

SECRET = "s3cret-backend-password"
pytestmark = pytest.mark.usefixtures("recheck_always")


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


COMMANDS = {"list": "list_api_properties", "set": "set_api_property", "clear": "clear_api_property"}


def run(action: str, *args: str) -> Result:
    """The command of ``action`` (list, set, clear) as ``manage.py`` would judge it: exit status 0, or
    CommandError's (non-zero) status."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(COMMANDS[action], *args, stdout=out, stderr=err)
    except CommandError as e:
        return Result(e.returncode, out.getvalue(), str(e))
    return Result(0, out.getvalue(), err.getvalue())


def stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    class Stdin:
        buffer = io.BytesIO(data)

    monkeypatch.setattr("sys.stdin", Stdin)


@pytest.fixture
def shop(sandbox: Catalog, actor: Actor) -> Api:
    """``shop`` 1.0.0 published in sandbox, answering $(greeting) ("doc"); ``backend`` declared without a value."""
    document = open_api(
        "shop", [answer("$(greeting)")], {"greeting": {"value": "doc"}, "backend": {"description": "per catalog"}}
    )
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)
    return api


def stored(name: str = "greeting") -> str | None:
    return ApiPropertyValue.objects.filter(name=name).values_list("value", flat=True).first()


# -- list ------------------------------------------------------------------------------------------------------


def test_list_names_each_property_and_its_source_but_no_value_unless_asked(
    shop: Api, sandbox: Catalog, actor: Actor
) -> None:
    api_property_set(api=shop, catalog=sandbox, name="backend", value=SECRET, actor=actor)

    listed = run("list", "shop", "--catalog", "sandbox")

    assert listed.code == 0
    lines = listed.out.splitlines()
    assert [line.split()[:2] for line in lines] == [["backend", "operator"], ["greeting", "document_default"]]
    assert " set " in lines[0]
    assert SECRET not in listed.out
    assert '"doc"' not in listed.out
    # Twin: asked for, the values are shown.
    shown = run("list", "shop", "--catalog", "sandbox", "--show-values")
    assert f'"{SECRET}"' in shown.out
    assert shown.out.splitlines()[1].endswith('"doc"')


def test_list_as_json(shop: Api) -> None:
    hidden = json.loads(run("list", "shop", "--catalog", "Sandbox", "--json").out)
    assert hidden == [
        {"name": "backend", "source": "unset", "value": None, "updated_at": None},
        {"name": "greeting", "source": "document_default", "value": None, "updated_at": None},
    ]
    shown = json.loads(run("list", "shop", "--catalog", "sandbox", "--json", "--show-values").out)
    assert shown[1]["value"] == "doc"


def test_list_says_when_an_api_has_no_properties(sandbox: Catalog, actor: Actor) -> None:
    api_save(organization=sandbox.organization, document=api_document(name="bare"), actor=actor)
    assert run("list", "bare", "--catalog", "sandbox").out == "bare 1.0.0 has no properties in sandbox.\n"


# -- set -----------------------------------------------------------------------------------------------------------


def test_set_from_an_argument_reaches_the_gateway_and_clear_restores_the_documents(shop: Api) -> None:
    assert sandbox_body("/shop/go") == "doc"

    result = run("set", "shop", "greeting", "hello", "--catalog", "sandbox")

    assert result.code == 0
    assert result.out == "Set 'greeting' of shop 1.0.0 in sandbox; every gateway process serves it within seconds.\n"
    assert "hello" not in result.out
    assert sandbox_body("/shop/go") == "hello"

    cleared = run("clear", "shop", "greeting", "--catalog", "sandbox")
    assert cleared.code == 0
    assert "Cleared 'greeting'" in cleared.out
    assert sandbox_body("/shop/go") == "doc"


def test_set_reads_the_value_from_standard_input(shop: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin(monkeypatch, SECRET.encode() + b"\n")

    result = run("set", "shop", "backend", "--value-file", "-", "--catalog", "sandbox")

    assert result.code == 0
    assert stored("backend") == SECRET  # the newline echo adds is not part of it
    assert SECRET not in result.out
    event = AuditEvent.objects.get(action="api.property.set")
    assert event.actor == "cli:set_api_property"
    assert SECRET not in json.dumps(event.detail)


def test_set_reads_the_value_from_a_file_less_its_line_ending(shop: Api, tmp_path: Path) -> None:
    path = tmp_path / "value"
    path.write_bytes(b"https://orders.example.com\r\n")

    assert run("set", "shop", "greeting", "--value-file", str(path), "--catalog", "sandbox").code == 0

    assert stored() == "https://orders.example.com"
    assert sandbox_body("/shop/go") == "https://orders.example.com"
    # Only one line ending goes: a value holding lines is refused (no control characters), naming the place.
    path.write_bytes(b"one\ntwo\n")
    refused = run("set", "shop", "greeting", "--value-file", str(path), "--catalog", "sandbox")
    assert refused.code == 1
    assert "Control characters are not allowed here (found U+000A at position 4)" in refused.err


@pytest.mark.parametrize(
    ("args", "data", "message"),
    [
        ([], b"", "Give the value either as VALUE or with --value-file FILE"),
        (["x", "--value-file", "-"], b"y", "Give the value either as VALUE or with --value-file FILE"),
        (["--value-file", "-"], b"\xff\xfe", "The value is not UTF-8 text"),
        (["--value-file", "-"], b"x" * (1024 * 1024 + 1), "The value is larger than 1 MiB."),
        (["--value-file", "/nonexistent/value"], b"", "The value file '/nonexistent/value' does not exist"),
        (["bell\x07"], b"", "'greeting' not set: "),
    ],
)
def test_set_refuses_a_missing_or_unreadable_value(
    shop: Api, monkeypatch: pytest.MonkeyPatch, args: list[str], data: bytes, message: str
) -> None:
    stdin(monkeypatch, data)

    result = run("set", "shop", "greeting", *args, "--catalog", "sandbox")

    assert result.code == 1
    assert message in result.err
    assert stored() is None
    # Twin: a plain value on standard input.
    stdin(monkeypatch, b"plain")
    assert run("set", "shop", "greeting", "--value-file", "-", "--catalog", "sandbox").code == 0


def test_set_refuses_a_value_the_api_would_not_run_with_naming_the_policy(signer_api: Api) -> None:
    result = run("set", "signer", "signing-key", "no-such-key", "--catalog", "sandbox")

    assert result.code == 1
    assert result.err.startswith("'signing-key' not set: signer 1.0.0 published in personal/sandbox would not run")
    assert "'sign'" in result.err
    assert stored("signing-key") is None
    assert sandbox_body("/signer/go").count(".") == 2
    # Twin: a crypto object that exists.
    assert run("set", "signer", "signing-key", KEY_OBJECT, "--catalog", "sandbox").code == 0


def test_a_dry_run_checks_the_value_and_stores_nothing(signer_api: Api) -> None:
    good = run("set", "signer", "signing-key", KEY_OBJECT, "--catalog", "sandbox", "--dry-run")
    assert good.code == 0
    assert good.out == "Would set 'signing-key' of signer 1.0.0 in sandbox: the value is accepted; nothing stored.\n"
    bad = run("set", "signer", "signing-key", "no-such-key", "--catalog", "sandbox", "--dry-run")
    assert bad.code == 1
    assert "would not run" in bad.err
    assert not ApiPropertyValue.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="api.property.").exists()


def test_set_refuses_a_property_the_api_does_not_have(shop: Api) -> None:
    result = run("set", "shop", "greting", "x", "--catalog", "sandbox")

    assert result.code == 1
    assert "shop 1.0.0 has no property 'greting' in sandbox (it has: backend, greeting)" in result.err
    assert not ApiPropertyValue.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nothing", "--catalog", "sandbox"], "No API 'nothing' in organization 'personal'"),
        (["shop", "--catalog", "sandbox", "--api-version", "9.9.9"], "No version 9.9.9 of API 'shop'"),
        (["shop", "--catalog", "nowhere"], "No catalog 'nowhere' in organization 'personal'"),
        (["shop", "--catalog", "sandbox", "--org", "nobody"], "No organization 'nobody'"),
    ],
)
def test_every_action_names_what_it_cannot_find(shop: Api, args: list[str], message: str) -> None:
    for action in (["list"], ["set", "greeting", "x"], ["clear", "greeting"]):
        result = run(action[0], args[0], *action[1:], *args[1:])
        assert result.code == 1, action
        assert message in result.err
    assert not ApiPropertyValue.objects.exists()


# -- clear -----------------------------------------------------------------------------------------------------------


def test_clear_without_a_value_fails_naming_it(shop: Api) -> None:
    result = run("clear", "shop", "greeting", "--catalog", "sandbox")
    assert result.code == 1
    assert result.err == "shop 1.0.0 has no operator value of 'greeting' in sandbox: nothing to clear."


def test_clear_refuses_when_the_api_needs_the_value(sandbox: Catalog, actor: Actor, jwt_keyprofile: KeyProfile) -> None:
    generate = {"jwt-generate": {"title": "sign", "jws-crypto": "$(signing-key)", "jws-alg": "RS256"}}
    document = open_api("signer", [generate, answer("$(generated.jwt)")], {"signing-key": {"description": "here"}})
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_property_set(api=api, catalog=sandbox, name="signing-key", value=KEY_OBJECT, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)

    for extra in ([], ["--dry-run"]):
        result = run("clear", "signer", "signing-key", "--catalog", "sandbox", *extra)
        assert result.code == 1
        assert result.err.startswith("'signing-key' not cleared: ")
        assert "would not run" in result.err
    assert stored("signing-key") == KEY_OBJECT


def test_a_dry_run_clear_changes_nothing(shop: Api, sandbox: Catalog, actor: Actor) -> None:
    api_property_set(api=shop, catalog=sandbox, name="greeting", value="hello", actor=actor)

    result = run("clear", "shop", "greeting", "--catalog", "sandbox", "--dry-run")

    assert result.code == 0
    assert result.out.startswith("Would clear 'greeting'")
    assert stored() == "hello"
    assert sandbox_body("/shop/go") == "hello"


# -- verbosity and exit statuses from the command line ----------------------------------------------------------------


def test_verbosity_0_sets_quietly(shop: Api) -> None:
    out = io.StringIO()
    call_command("set_api_property", "shop", "greeting", "hi", "--catalog", "sandbox", verbosity=0, stdout=out)
    assert out.getvalue() == ""
    assert stored() == "hi"


def test_exit_statuses_from_the_command_line(
    shop: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # run_from_argv closes the database connections when the command ends, as a process would; the test's
    # transaction lives on its one connection, which the checks below still read.
    monkeypatch.setattr(connections, "close_all", lambda: None)

    def from_the_command_line(name: str, *args: str) -> None:
        load_command_class("tokens", name).run_from_argv(["manage.py", name, *args])

    from_the_command_line("set_api_property", "shop", "greeting", "hi", "--catalog", "sandbox")
    assert stored() == "hi"

    with pytest.raises(SystemExit) as refused:
        from_the_command_line("clear_api_property", "shop", "backend", "--catalog", "sandbox")
    assert refused.value.code == 1
    assert "CommandError: shop 1.0.0 has no operator value of 'backend'" in capsys.readouterr().err

    with pytest.raises(SystemExit) as usage:
        from_the_command_line("list_api_properties", "shop")
    assert usage.value.code == 2
    assert "the following arguments are required: --catalog" in capsys.readouterr().err
