"""Issue 15, item 1 and 2: commands accept a title or a name wherever they take an object, a name not found
is answered with the close matches, ``--org`` defaults to ``personal`` in every command, and ``seed_demo``
prints the gateway URL of the port the portal runs on."""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class
from django.test import override_settings

from keyprofiles.models import KeyProfile
from portal.commands import PortalCommand
from portal.models import DEFAULT_ORGANIZATION, Catalog, Organization
from tests.commands import refused, run
from tokens.demo import DemoSummary
from tokens.models import Publication

TITLE = "JWT Generation and Validation"
NAME = "jwt-generation-and-validation"
KEY = "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key"


# export_api and publish_api: the title is as good as the name


def test_export_api_takes_the_title_as_it_takes_the_name(demo: DemoSummary) -> None:
    by_name = run("export_api", NAME).stdout
    assert run("export_api", TITLE).stdout == by_name
    assert run("export_api", TITLE.lower()).stdout == by_name
    assert f"name: {NAME}" in by_name


def test_export_api_names_the_close_match_of_a_misspelt_title(demo: DemoSummary) -> None:
    message = refused("export_api", "JWT Generation & Validation")
    assert message == (
        f"No API 'JWT Generation & Validation' in organization 'personal' (known: {NAME}). Did you mean '{TITLE}'?"
    )


def test_publish_api_takes_the_title_and_the_catalog_title(demo: DemoSummary) -> None:
    Catalog.objects.filter(slug="sandbox").update(title="Sandbox Catalog")
    revision = Publication.objects.get(api__name=NAME, catalog__slug="sandbox").revision
    assert "Published" in run("publish_api", TITLE, "--catalog", "Sandbox Catalog").stdout
    assert Publication.objects.get(api__name=NAME, catalog__slug="sandbox").revision == revision + 1


def test_publish_api_names_the_close_match_of_a_misspelt_catalog(demo: DemoSummary) -> None:
    message = refused("publish_api", TITLE, "--catalog", "prodution")
    assert message == (
        "No catalog 'prodution' in organization 'personal' (known: production, sandbox). Did you mean 'production'?"
    )
    assert not Publication.objects.filter(catalog__slug="production").exists()


# create_keyprofile and rotate_keyprofile: keystores and profiles by name (any case) or title


def test_create_keyprofile_finds_the_keystore_whatever_its_case(demo: DemoSummary) -> None:
    run("create_keyprofile", "Second Profile", "--keystore", "jwt keystore")
    assert KeyProfile.objects.get(name="second-profile").keystore.name == "JWT Keystore"


def test_create_keyprofile_names_the_close_match_of_a_misspelt_keystore(demo: DemoSummary) -> None:
    message = refused("create_keyprofile", "Second Profile", "--keystore", "JWT Keystor")
    assert (
        message
        == "No keystore 'JWT Keystor' in organization 'personal' (known: JWT Keystore). Did you mean 'JWT Keystore'?"
    )
    assert not KeyProfile.objects.filter(name="second-profile").exists()


def test_rotate_keyprofile_takes_the_profile_title(demo: DemoSummary) -> None:
    output = run("rotate_keyprofile", "JWT Keyprofile", "--catalog", "sandbox", "--dry-run").stdout
    assert "Would rotate 'jwt-keyprofile' in personal/sandbox: 1.0.0 -> 1.0.1" in output


def test_rotate_keyprofile_names_the_close_match_of_a_misspelt_profile(demo: DemoSummary) -> None:
    message = refused("rotate_keyprofile", "JWT Keyprofil", "--catalog", "sandbox", "--dry-run")
    assert message == (
        "No key profile 'JWT Keyprofil' in organization 'personal' (known: jwt-keyprofile). "
        "Did you mean 'JWT Keyprofile'?"
    )


# The organization: the same default everywhere, and found by its title too


def test_list_crypto_objects_takes_a_catalog_without_org(demo: DemoSummary) -> None:
    objects = run("list_crypto_objects", "--catalog", "sandbox", "--json").json()
    assert KEY in [o["name"] for o in objects]
    assert run("list_crypto_objects", "--catalog", "production", "--json").json() == []


def test_list_crypto_objects_lists_the_default_organization_only(demo: DemoSummary) -> None:
    Organization.objects.create(slug="acme", title="Acme")
    assert KEY in [o["name"] for o in run("list_crypto_objects", "--json").json()]
    assert run("list_crypto_objects", "--org", "acme", "--json").json() == []


def test_an_organization_is_found_by_its_title(demo: DemoSummary) -> None:
    Organization.objects.filter(slug="personal").update(title="Personal Org")
    assert KEY in [o["name"] for o in run("list_crypto_objects", "--org", "Personal Org", "--json").json()]
    assert refused("list_crypto_objects", "--org", "Personal Orgs") == (
        "No organization 'Personal Orgs' (known: personal). Did you mean 'Personal Org'?"
    )


def _portal_commands() -> list[str]:
    return [
        name
        for name, app in get_commands().items()
        if app in {"keyprofiles", "tokens"} and isinstance(load_command_class(app, name), PortalCommand)
    ]


def test_every_command_with_org_defaults_to_the_same_organization() -> None:
    with_org = []
    for name in _portal_commands():
        command = load_command_class(get_commands()[name], name)
        parser: ArgumentParser = command.create_parser("manage.py", name)
        org = next((a for a in parser._actions if "--org" in a.option_strings), None)
        if org is not None:
            with_org.append(name)
            assert org.default == DEFAULT_ORGANIZATION == "personal", name
    # Every command that works in one organization: the monitoring and maintenance ones span them all.
    assert sorted(with_org) == [
        "clear_api_property",
        "create_app",
        "create_keyprofile",
        "export_api",
        "generate_keystore",
        "import_api",
        "import_keystore",
        "import_truststore",
        "list_api_properties",
        "list_crypto_objects",
        "publish_api",
        "rotate_keyprofile",
        "set_api_property",
    ]


# seed_demo: the gateway URL on the port the portal runs on


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("PORT", raising=False)
    with override_settings(VAR_DIR=tmp_path):
        yield tmp_path


def test_seed_demo_defaults_to_port_8000(demo: DemoSummary, var_dir: Path) -> None:
    assert run("seed_demo", "--json").json()["gateway_url"] == "http://127.0.0.1:8000/personal/sandbox/securetoken"


def test_seed_demo_remembers_the_url_make_run_serves_on(demo: DemoSummary, var_dir: Path) -> None:
    first = run("seed_demo", "--serving-at", "http://127.0.0.1:8137")
    assert "curl -si" in first.stdout
    assert "http://127.0.0.1:8137/personal/sandbox/securetoken/generate" in first.stdout
    # Later, from another shell without PORT: the same URL.
    assert run("seed_demo", "--json").json()["gateway_url"] == "http://127.0.0.1:8137/personal/sandbox/securetoken"


def test_seed_demo_port_and_base_url_override_the_remembered_url(
    demo: DemoSummary, var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("seed_demo", "--serving-at", "http://127.0.0.1:8137")
    monkeypatch.setenv("PORT", "9001")
    assert run("seed_demo", "--json").json()["gateway_url"].startswith("http://127.0.0.1:9001/")
    url = "https://portal.example.com/"
    assert (
        run("seed_demo", "--json", "--base-url", url)
        .json()["gateway_url"]
        .startswith("https://portal.example.com/personal/")
    )


def test_seed_demo_refuses_a_base_url_that_is_not_one(demo: DemoSummary, var_dir: Path) -> None:
    assert refused("seed_demo", "--serving-at", "127.0.0.1:8137") == (
        "'127.0.0.1:8137' is not a base URL such as http://127.0.0.1:8000."
    )
    assert not (var_dir / "served-url").exists()
