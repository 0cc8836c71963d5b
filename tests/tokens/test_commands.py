"""The tokens management commands through call_command: output, files, and the exit status of failures."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError

from keyprofiles.models import KeyProfile
from portal.models import AuditEvent, Catalog, Organization
from portal.services import Actor
from tests.tokens.helpers import api_document, demo_document
from tokens import credentials
from tokens.demo import API_DOCUMENT, API_NAME
from tokens.documents import document_dump, document_load
from tokens.models import Api, ConsumerApp, Publication
from tokens.services import api_import, api_save


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


def run(name: str, *args: str) -> Result:
    """Run a command as ``manage.py`` would judge it: exit status 0, or CommandError's (non-zero) status."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
    except CommandError as e:
        return Result(e.returncode, out.getvalue(), str(e))
    return Result(0, out.getvalue(), err.getvalue())


@pytest.fixture
def demo_file(tmp_path: Path) -> Path:
    path = tmp_path / "demo_api.yaml"
    path.write_bytes(API_DOCUMENT.read_bytes())
    return path


def test_a_command_error_exits_non_zero_from_the_command_line(
    organization: Organization, capsys: pytest.CaptureFixture[str]
) -> None:
    command = load_command_class("tokens", "export_api")

    with pytest.raises(SystemExit) as excinfo:
        command.run_from_argv(["manage.py", "export_api", "no-such-api"])

    assert excinfo.value.code == 1
    assert "CommandError: No API 'no-such-api' in organization 'personal' (known: none yet)." in capsys.readouterr().err


def test_a_command_that_succeeds_exits_normally_from_the_command_line(
    organization: Organization, actor: Actor, capsys: pytest.CaptureFixture[str]
) -> None:
    api_import(organization=organization, data=API_DOCUMENT.read_bytes(), actor=actor)

    load_command_class("tokens", "export_api").run_from_argv(["manage.py", "export_api", API_NAME])

    assert document_load(capsys.readouterr().out) == demo_document()


# -- import_api ---------------------------------------------------------------------------------------------


def test_import_api_imports_then_updates(organization: Organization, demo_file: Path) -> None:
    first = run("import_api", str(demo_file))
    second = run("import_api", str(demo_file))

    assert first.code == second.code == 0
    assert "Imported API 'jwt-generation-and-validation' 1.0.0 (base path /securetoken)." in first.out
    assert "Updated API 'jwt-generation-and-validation' 1.0.0" in second.out
    assert Api.objects.get().document == demo_document()
    assert AuditEvent.objects.filter(action="api.create", actor="cli:import_api").count() == 1


def test_import_api_reads_json_too(organization: Organization, tmp_path: Path) -> None:
    path = tmp_path / "api.json"
    path.write_text(document_dump(demo_document(), fmt="json"))

    assert run("import_api", str(path)).code == 0
    assert Api.objects.get().document == demo_document()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a: 1\na: 2\n",
            r"API not imported: The document is not valid YAML or JSON at line 2, column 1: duplicate key",
        ),
        ("- 1\n", "API not imported: The document must be a mapping"),
        ("swagger: '2.0'\ninfo: {title: T, version: '1.0', x-ibm-name: t}\n", "API not imported: info.version"),
    ],
)
def test_import_api_refuses_a_bad_file_with_the_reason(
    text: str, message: str, organization: Organization, tmp_path: Path, demo_file: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert run("import_api", str(demo_file)).code == 0

    result = run("import_api", str(path))

    assert result.code == 1
    assert re.match(message, result.err)
    assert Api.objects.count() == 1


def test_import_api_names_a_missing_file(organization: Organization, tmp_path: Path, demo_file: Path) -> None:
    assert run("import_api", str(demo_file)).code == 0
    result = run("import_api", str(tmp_path / "nope.yaml"))
    assert (result.code, result.err) == (
        1,
        f"The API document file '{tmp_path / 'nope.yaml'}' does not exist or is not a file.",
    )


def test_import_api_publish_needs_a_catalog(
    organization: Organization, jwt_keyprofile: KeyProfile, demo_file: Path
) -> None:
    without = run("import_api", str(demo_file), "--publish")
    assert (without.code, without.err) == (1, "--publish needs --catalog C.")
    assert not Api.objects.exists()

    published = run("import_api", str(demo_file), "--catalog", "sandbox", "--publish")
    assert published.code == 0
    assert "Published to personal/sandbox (revision 1)." in published.out
    assert Publication.objects.get().state == "published"


def test_import_api_imports_but_does_not_publish_a_bad_policy(organization: Organization, demo_file: Path) -> None:
    # No key profile is enabled: the crypto objects the demo names do not exist in this sandbox.
    result = run("import_api", str(demo_file), "--catalog", "sandbox", "--publish")

    assert result.code == 1
    assert result.err.startswith("API imported but not published: jwt-generate policy 'jwt-generate', property")
    assert Api.objects.exists()
    assert not Publication.objects.exists()


def test_import_api_refuses_unknown_organizations_and_catalogs(organization: Organization, demo_file: Path) -> None:
    assert run("import_api", str(demo_file), "--org", "personal", "--catalog", "sandbox").code == 0
    assert run("import_api", str(demo_file), "--org", "acme").err == "No organization 'acme' (known: personal)."
    assert run("import_api", str(demo_file), "--catalog", "qa").err == (
        "No catalog 'qa' in organization 'personal' (known: sandbox)."
    )


def test_import_api_reads_standard_input(
    organization: Organization, monkeypatch: pytest.MonkeyPatch, demo_file: Path
) -> None:
    class Stdin:
        buffer = io.BytesIO(demo_file.read_bytes())

    monkeypatch.setattr("sys.stdin", Stdin)

    assert run("import_api", "-").code == 0
    assert Api.objects.get().name == "jwt-generation-and-validation"


# -- export_api ---------------------------------------------------------------------------------------------


@pytest.fixture
def two_versions(organization: Organization, actor: Actor) -> None:
    api_import(organization=organization, data=API_DOCUMENT.read_bytes(), actor=actor)
    document = demo_document()
    document["info"]["version"] = "1.10.0"
    document["info"]["title"] = "Newer"
    api_save(organization=organization, document=document, actor=actor)


@pytest.mark.usefixtures("two_versions")
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_api_writes_the_highest_version_as_imported(fmt: str) -> None:
    result = run("export_api", "jwt-generation-and-validation", "--format", fmt)

    assert result.code == 0
    exported = document_load(result.out)
    assert exported["info"]["version"] == "1.10.0"  # 1.10.0 is higher than 1.0.0 (not text order)
    assert {
        **exported,
        "info": {**exported["info"], "version": "1.0.0", "title": demo_document()["info"]["title"]},
    } == (demo_document())
    if fmt == "json":
        assert json.loads(result.out) == exported


@pytest.mark.usefixtures("two_versions")
def test_export_api_picks_a_version_and_writes_a_file(tmp_path: Path) -> None:
    output = tmp_path / "out.yaml"

    result = run("export_api", "jwt-generation-and-validation", "--api-version", "1.0.0", "--output", str(output))

    assert result.code == 0
    assert result.out == ""
    assert result.err.strip() == f"Wrote {output}."
    assert document_load(output.read_bytes()) == demo_document()


@pytest.mark.usefixtures("two_versions")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "No API 'nope' in organization 'personal' (known: jwt-generation-and-validation)."),
        (["jwt-generation-and-validation", "--api-version", "9.9.9"],
         "No version 9.9.9 of API 'jwt-generation-and-validation' (versions: 1.0.0, 1.10.0)."),
    ],
)  # fmt: skip
def test_export_api_names_what_it_cannot_find(args: list[str], message: str) -> None:
    assert run("export_api", "jwt-generation-and-validation").code == 0
    result = run("export_api", *args)
    assert (result.code, result.err) == (1, message)


def test_export_api_names_an_unwritable_output(organization: Organization, actor: Actor, tmp_path: Path) -> None:
    api_import(organization=organization, data=API_DOCUMENT.read_bytes(), actor=actor)

    assert run("export_api", "jwt-generation-and-validation", "--output", str(tmp_path / "x.yaml")).code == 0
    result = run("export_api", "jwt-generation-and-validation", "--output", str(tmp_path / "missing" / "x.yaml"))

    assert result.code == 1
    assert result.err.startswith(f"Cannot write '{tmp_path / 'missing' / 'x.yaml'}'")


# -- publish_api --------------------------------------------------------------------------------------------


def test_publish_api_publishes_and_republishes(organization: Organization, jwt_keyprofile: KeyProfile) -> None:
    api_import(organization=organization, data=API_DOCUMENT.read_bytes(), actor=Actor(name="t"))

    first = run("publish_api", "jwt-generation-and-validation", "--catalog", "sandbox")
    second = run("publish_api", "jwt-generation-and-validation", "--catalog", "sandbox", "--api-version", "1.0.0")

    assert first.code == second.code == 0
    assert first.out.strip() == (
        "Published jwt-generation-and-validation 1.0.0 to personal/sandbox (revision 1, base path /securetoken)."
    )
    assert "(revision 2," in second.out
    assert AuditEvent.objects.filter(action="api.publish", actor="cli:publish_api").count() == 2


def test_publish_api_names_the_bad_policy(organization: Organization, production: Catalog, actor: Actor) -> None:
    script = {"proxy": {"title": "legacy", "source": "x"}}
    replaced = {"set-variable": {"title": "legacy", "actions": [{"set": "message.body", "value": "x"}]}}
    api_save(organization=organization, document=api_document(name="scripted", execute=[script]), actor=actor)

    result = run("publish_api", "scripted", "--catalog", "production")

    assert result.code == 1
    assert result.err.startswith("Not published: Policy 'legacy' of type 'proxy'")
    assert not Publication.objects.exists()
    api_save(organization=organization, document=api_document(name="scripted", execute=[replaced]), actor=actor)
    assert run("publish_api", "scripted", "--catalog", "production").code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--catalog", "sandbox"], "No API 'nope' in organization 'personal' (known: plain)."),
        (
            ["plain", "--catalog", "sandbox", "--api-version", "2.0.0"],
            "No version 2.0.0 of API 'plain' (versions: 1.0.0).",
        ),
        (["plain", "--catalog", "qa"], "No catalog 'qa' in organization 'personal' (known: sandbox)."),
    ],
)
def test_publish_api_names_what_it_cannot_find(
    args: list[str], message: str, organization: Organization, actor: Actor
) -> None:
    api_save(organization=organization, document=api_document(name="plain"), actor=actor)
    assert run("publish_api", "plain", "--catalog", "sandbox").code == 0

    result = run("publish_api", *args)

    assert (result.code, result.err) == (1, message)


def test_publish_api_requires_a_catalog(organization: Organization, actor: Actor) -> None:
    api_save(organization=organization, document=api_document(name="plain"), actor=actor)
    assert run("publish_api", "plain", "--catalog", "sandbox").code == 0
    with pytest.raises(CommandError, match="the following arguments are required: --catalog"):
        call_command("publish_api", "plain", stdout=io.StringIO(), stderr=io.StringIO())


# -- create_app ---------------------------------------------------------------------------------------------


def test_create_app_with_secret_prints_it_once_and_stores_its_hash(organization: Organization, actor: Actor) -> None:
    api_save(organization=organization, document=api_document(name="plain"), actor=actor)
    run("publish_api", "plain", "--catalog", "sandbox")

    result = run("create_app", "Mobile", "--catalog", "sandbox", "--with-secret")

    assert result.code == 0
    app = ConsumerApp.objects.get(name="Mobile")
    secret = re.search(r"client secret: (\S+)", result.out)
    assert secret is not None
    assert result.out.count(secret[1]) == 1
    assert f"client id:     {app.client_id}" in result.out
    assert "subscribed to: plain 1.0.0" in result.out
    assert credentials.secret_matches(secret[1], app.client_secret_hash)
    assert secret[1] not in app.client_secret_hash


def test_create_app_without_secret_prints_none(organization: Organization) -> None:
    result = run("create_app", "Web", "--catalog", "sandbox", "--no-subscribe")

    assert result.code == 0
    assert "client secret" not in result.out
    assert not ConsumerApp.objects.get(name="Web").has_secret


@pytest.mark.parametrize("with_secret", [False, True])
def test_create_app_json_has_a_32_hex_client_id(with_secret: bool, organization: Organization) -> None:
    args = ["Mobile", "--catalog", "sandbox", "--json"] + (["--with-secret"] if with_secret else [])

    data = json.loads(run("create_app", *args).out)

    assert re.fullmatch(r"[0-9a-f]{32}", data["client_id"])
    assert data["client_id"] == ConsumerApp.objects.get().client_id
    assert (data["name"], data["catalog"], data["subscriptions"]) == ("Mobile", "personal/sandbox", [])
    assert ("client_secret" in data) is with_secret
    if with_secret:
        assert credentials.secret_matches(data["client_secret"], ConsumerApp.objects.get().client_secret_hash)


def test_create_app_refuses_a_taken_name(organization: Organization) -> None:
    assert run("create_app", "Mobile", "--catalog", "sandbox").code == 0

    result = run("create_app", "Mobile", "--catalog", "sandbox")

    assert result.code == 1
    assert result.err.startswith("App not created: ")
    assert ConsumerApp.objects.count() == 1


# -- seed_demo ----------------------------------------------------------------------------------------------


@pytest.fixture
def demo_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.delenv("PORTAL_ADMIN_PASSWORD", raising=False)


@pytest.mark.usefixtures("demo_environment")
def test_seed_demo_is_idempotent_and_describes_the_demo_as_json(db: None) -> None:
    first = json.loads(run("seed_demo", "--json").out)
    second = json.loads(run("seed_demo", "--json").out)

    assert first["client_id"] == second["client_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first["client_id"])
    assert first["gateway_url"] == "http://127.0.0.1:8000/personal/sandbox/securetoken"
    assert first["crypto_objects"] == [
        "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-ca-0",
        "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key",
    ]
    assert (first["organization"], first["catalogs"], first["keystores"], first["profiles"]) == (
        "personal",
        ["production", "sandbox"],
        ["JWT Keystore"],
        ["jwt-keyprofile 1.0.0"],
    )
    assert "admin_password" in first  # generated and shown once...
    assert "admin_password" not in second  # ...and not again
    assert second == {key: value for key, value in first.items() if key != "admin_password"}
    assert ConsumerApp.objects.count() == Publication.objects.count() == Api.objects.count() == 1


@pytest.mark.usefixtures("demo_environment")
def test_seed_demo_prints_the_curl_commands_with_the_base_url(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_ADMIN_PASSWORD", "chosen-password")

    result = run("seed_demo", "--base-url", "http://gw.example:9000/")

    assert result.code == 0
    client_id = ConsumerApp.objects.get().client_id
    assert "Demo ready in organization 'personal'." in result.out
    assert f"-H 'X-IBM-Client-Id: {client_id}'" in result.out
    assert "http://gw.example:9000/personal/sandbox/securetoken/generate" in result.out
    assert "chosen-password" not in result.out


@pytest.mark.usefixtures("demo_environment")
def test_seed_demo_takes_the_port_from_the_environment(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "8123")
    data: dict[str, Any] = json.loads(run("seed_demo", "--json").out)
    assert data["gateway_url"] == "http://127.0.0.1:8123/personal/sandbox/securetoken"
