"""The rotation commands (``rotate_keyprofile``, ``retire_keys``, ``rotate_master_key``) through
``call_command``, and the console's Rotate page through the Django test client.

A command's failure must be a CommandError with a message a person can act on, and must change nothing. The
clock is frozen at INSTANT and moved with time_machine.
"""

from __future__ import annotations

import io
import re
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.contrib.auth.models import AbstractUser, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from time_machine import TimeMachineFixture

from keyprofiles import keycache
from keyprofiles import services as keyprofile_services
from keyprofiles.models import KeyProfile, KeyProfileBinding, Keystore
from portal import invalidation
from portal.background import THREAD_NAME_PREFIX
from portal.models import AuditEvent, Catalog, Organization
from portal.services import Actor, organization_create
from tests import keyfixtures as fx
from tests.commands import refused, run
from tests.conftest import OTHER_MASTER_KEY, TEST_MASTER_KEY
from tests.tokens.helpers import DEMO_PROFILE as PROFILE
from tests.tokens.helpers import INSTANT, clock_after
from tokens import rotation
from tokens.demo import API_NAME, DemoSummary, demo_seed
from tokens.models import Publication
from tokens.rotation import lifecycle_tick
from tokens.runtime import gateway

State = KeyProfileBinding.State


# The tokens conftest gives each test a fresh gateway; these look at the version on every request.
pytestmark = pytest.mark.usefixtures("recheck_always")


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run without a terminal, as under cron."""
    monkeypatch.setattr(sys, "stdin", io.StringIO())


@pytest.fixture
def demo(db: None, clock: TimeMachineFixture, actor: Actor) -> DemoSummary:
    return demo_seed(admin_password="x", actor=actor)


def state(version: str, name: str = PROFILE) -> str:
    return KeyProfileBinding.objects.get(profile__name=name, profile__version=version, catalog__slug="sandbox").state


def snapshot() -> dict[str, Any]:
    """What a refused or dry command must leave as it was."""
    return {
        "keystores": Keystore.objects.count(),
        "profiles": sorted(KeyProfile.objects.values_list("name", "version")),
        "bindings": sorted(KeyProfileBinding.objects.values_list("pk", "state", "grace_ends_at", "activates_at")),
        "revisions": sorted(Publication.objects.values_list("pk", "revision", "state")),
        "rotations": AuditEvent.objects.filter(action="keyprofile.rotate").count(),
    }


# -- rotate_keyprofile -------------------------------------------------------------------------------------------


def test_rotate_keyprofile_reports_the_rotation(demo: DemoSummary) -> None:
    out = run("rotate_keyprofile", PROFILE, "--catalog", "sandbox")

    assert out.stdout.splitlines() == [
        "Rotated 'jwt-keyprofile' in personal/sandbox: 1.0.0 -> 1.0.1",
        "  new key:        generated like the current key",
        "  signs from:     2030-01-01 12:00:00 UTC",
        "  old key retires: 2030-01-01 12:01:00 UTC (run retire_keys)",
        "  API moved:      jwt-generation-and-validation 1.0.0",
    ]
    assert (state("1.0.0"), state("1.0.1")) == (State.PASSIVE, State.ACTIVE)
    assert AuditEvent.objects.get(action="keyprofile.rotate").actor == "cli:rotate_keyprofile"


def test_rotate_keyprofile_json_is_the_plan(demo: DemoSummary) -> None:
    plans = run("rotate_keyprofile", PROFILE, "--catalog", "sandbox", "--grace", "2h", "--json").json()

    assert len(plans) == 1
    [plan] = plans
    assert {k: plan[k] for k in ("old_version", "new_version", "grace_seconds", "dry_run", "apis_moved")} == {
        "old_version": "1.0.0",
        "new_version": "1.0.1",
        "grace_seconds": 7200,
        "dry_run": False,
        "apis_moved": ["jwt-generation-and-validation 1.0.0"],
    }
    assert plan["old_version_retires_at"] == (INSTANT + timedelta(hours=2)).isoformat()


def test_rotate_keyprofile_dry_run_says_what_it_would_do_and_changes_nothing(demo: DemoSummary) -> None:
    before = snapshot()

    out = run("rotate_keyprofile", PROFILE, "--catalog", "sandbox", "--dry-run")

    assert out.stdout.splitlines()[0] == "Would rotate 'jwt-keyprofile' in personal/sandbox: 1.0.0 -> 1.0.1"
    assert snapshot() == before


def test_rotate_keyprofile_dry_run_json(demo: DemoSummary) -> None:
    before = snapshot()

    [plan] = run("rotate_keyprofile", PROFILE, "--catalog", "sandbox", "--dry-run", "--json").json()

    assert plan["dry_run"] is True
    assert plan["crypto_objects"] == {
        "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-ca-0": "personal_sandbox_tlsp-jwt-keyprofileV1.0.1-ca-0",
        "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key": "personal_sandbox_tlsp-jwt-keyprofileV1.0.1-key",
    }
    assert snapshot() == before


@pytest.mark.parametrize("option", ["--grace", "--prepublish"])
@pytest.mark.parametrize("text", ["soon", "2x", "-5m", "1.5h"])
def test_rotate_keyprofile_refuses_a_duration_it_cannot_read(
    organization: Organization, option: str, text: str
) -> None:
    before = snapshot()

    message = refused("rotate_keyprofile", PROFILE, "--catalog", "sandbox", f"{option}={text}")

    assert message == f"{option}: '{text}' is not a duration (use e.g. 90s, 15m, 2h, 7d or 1h30m)."
    assert snapshot() == before


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("2h", 7200), ("1h30m", 5400), ("7d", 604800)])
def test_rotate_keyprofile_reads_durations(demo: DemoSummary, text: str, seconds: int) -> None:
    [plan] = run("rotate_keyprofile", PROFILE, "--catalog", "sandbox", "--grace", text, "--dry-run", "--json").json()

    assert plan["grace_seconds"] == seconds


def test_rotate_keyprofile_refuses_a_grace_shorter_than_the_token_validity(demo: DemoSummary) -> None:
    before = snapshot()

    message = refused("rotate_keyprofile", PROFILE, "--catalog", "sandbox", "--grace", "30s")

    assert message.startswith("'jwt-keyprofile' in personal/sandbox not rotated: The grace period 30 s is shorter")
    assert "than 60 s" in message
    assert snapshot() == before


def test_rotate_keyprofile_with_prepublish_says_when_the_key_signs(demo: DemoSummary) -> None:
    out = run("rotate_keyprofile", PROFILE, "--catalog", "sandbox", "--prepublish", "1d")

    assert "  signs from:     2030-01-02 12:00:00 UTC" in out.stdout.splitlines()
    assert "  old key retires: 2030-01-02 12:01:00 UTC (run retire_keys)" in out.stdout.splitlines()
    assert state("1.0.1") == State.NEXT


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope", "--catalog", "sandbox"), "No key profile 'nope' in organization 'personal' (known: jwt-keyprofile)."),
        ((PROFILE, "--catalog", "nope"), "No catalog 'nope' in organization 'personal' (known: production, sandbox)."),
        ((PROFILE, "--catalog", "sandbox", "--org", "nope"), "No organization 'nope' (known: personal)."),
        ((PROFILE,), "Give NAME and --catalog C (or --expiring-within DAYS)."),
        (("--catalog", "sandbox"), "Give NAME and --catalog C (or --expiring-within DAYS)."),
        ((PROFILE, "--expiring-within", "30"), "Give NAME or --expiring-within DAYS, not both."),
        (("--expiring-within", "-1"), "--expiring-within takes a number of days, 0 or more."),
        (
            (PROFILE, "--catalog", "sandbox", "--profile-version", "1.0.0"),
            "'jwt-keyprofile' in personal/sandbox not rotated: Version 1.0.0 of 'jwt-keyprofile' exists already; "
            "choose another --profile-version.",
        ),
        (
            (PROFILE, "--catalog", "sandbox", "--keystore", "Missing"),
            "No keystore 'Missing' in organization 'personal' (known: JWT Keystore).",
        ),
    ],
)
def test_rotate_keyprofile_refusals_name_the_problem(demo: DemoSummary, args: tuple[str, ...], message: str) -> None:
    before = snapshot()

    assert refused("rotate_keyprofile", *args) == message
    assert snapshot() == before


def test_rotate_keyprofile_to_a_chosen_version_and_keystore(demo: DemoSummary, actor: Actor) -> None:
    organization = Catalog.objects.get(slug="sandbox").organization
    keyprofile_services.keystore_import(
        organization=organization,
        name="Prepared",
        certificate=fx.CERT2_PEM.encode(),
        private_key=fx.KEY2_PEM.encode(),
        actor=actor,
    )

    out = run(
        "rotate_keyprofile", PROFILE, "--catalog", "sandbox", "--keystore", "Prepared", "--profile-version", "2.0.0"
    )

    assert "  new key:        keystore 'Prepared'" in out.stdout.splitlines()
    assert KeyProfile.objects.get(name=PROFILE, version="2.0.0").keystore.name == "Prepared"


@pytest.fixture
def key_files(tmp_path: Path) -> dict[str, str]:
    files = {
        "cert2.pem": fx.CERT2_PEM,
        "key2.pem": fx.KEY2_PEM,
        "key1-encrypted.pem": fx.KEY1_ENCRYPTED_PEM,
        "cert1.pem": fx.CERT1_PEM,
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return {name: str(tmp_path / name) for name in files}


def test_rotate_keyprofile_to_uploaded_files(demo: DemoSummary, key_files: dict[str, str]) -> None:
    out = run(
        "rotate_keyprofile",
        PROFILE,
        "--catalog",
        "sandbox",
        "--cert",
        key_files["cert2.pem"],
        "--key",
        key_files["key2.pem"],
    )

    assert "  new key:        uploaded certificate and key" in out.stdout.splitlines()
    assert KeyProfile.objects.get(name=PROFILE, version="1.0.1").keystore.subject == "CN=other.example"


def test_rotate_keyprofile_reads_the_key_passphrase_from_the_environment(
    demo: DemoSummary, key_files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEY_PASSPHRASE", fx.KEY1_PASSPHRASE.decode())

    run(
        "rotate_keyprofile",
        PROFILE,
        "--catalog",
        "sandbox",
        "--cert",
        key_files["cert1.pem"],
        "--key",
        key_files["key1-encrypted.pem"],
        "--password-env",
        "KEY_PASSPHRASE",
    )

    assert state("1.0.1") == State.ACTIVE


def test_rotate_keyprofile_upload_refusals(
    demo: DemoSummary, key_files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    before = snapshot()
    base = ("rotate_keyprofile", PROFILE, "--catalog", "sandbox")

    assert refused(*base, "--cert", key_files["cert2.pem"]) == "--cert and --key go together."
    assert refused(*base, "--cert", "/nonexistent/cert.pem", "--key", key_files["key2.pem"]) == (
        "The certificate file '/nonexistent/cert.pem' does not exist or is not a file."
    )
    assert (
        refused(
            *base,
            "--cert",
            key_files["cert1.pem"],
            "--key",
            key_files["key1-encrypted.pem"],
            "--password-env",
            "NOT_SET_ANYWHERE",
        )
        == "The environment variable NOT_SET_ANYWHERE named by --password-env is not set."
    )
    # Read as import_keystore reads it (portal.commands): an empty variable is refused, not taken as no password.
    monkeypatch.setenv("EMPTY_PASSPHRASE", "")
    assert refused(
        *base,
        "--cert",
        key_files["cert1.pem"],
        "--key",
        key_files["key1-encrypted.pem"],
        "--password-env",
        "EMPTY_PASSPHRASE",
    ) == ("The environment variable EMPTY_PASSPHRASE named by --password-env is empty.")
    mismatch = refused(*base, "--cert", key_files["cert2.pem"], "--key", key_files["key1-encrypted.pem"])
    assert mismatch.startswith("'jwt-keyprofile' in personal/sandbox not rotated: ")
    assert snapshot() == before


def test_rotate_keyprofile_with_other_bits(demo: DemoSummary) -> None:
    [plan] = run("rotate_keyprofile", PROFILE, "--catalog", "sandbox", "--bits", "3072", "--json").json()

    assert plan["key_source"] == "generated like the current key (RSA 3072)"
    assert KeyProfile.objects.get(name=PROFILE, version="1.0.1").keystore.key_size == 3072


@pytest.fixture
def long_lived_profile(demo: DemoSummary, actor: Actor) -> KeyProfile:
    """A second profile in sandbox whose certificate (fixed certificate 2) is valid until 2125."""
    organization = Catalog.objects.get(slug="sandbox").organization
    keystore = keyprofile_services.keystore_import(
        organization=organization,
        name="Long",
        certificate=fx.CERT2_PEM.encode(),
        private_key=fx.KEY2_PEM.encode(),
        actor=actor,
    )
    return keyprofile_services.keyprofile_create(
        organization=organization,
        title="Long Lived",
        keystore=keystore,
        catalogs=[Catalog.objects.get(slug="sandbox")],
        actor=actor,
    )


def test_expiring_within_rotates_only_the_profiles_that_expire_soon(
    long_lived_profile: KeyProfile, clock: TimeMachineFixture
) -> None:
    """The demo certificate is valid 365 days from INSTANT; 340 days later it expires within 30 days."""
    clock_after(clock, days=340)

    out = run("rotate_keyprofile", "--expiring-within", "30")

    assert out.stdout.splitlines()[0] == "Rotated 'jwt-keyprofile' in personal/sandbox: 1.0.0 -> 1.0.1"
    assert "long-lived" not in out.stdout
    assert (state("1.0.0"), state("1.0.1"), state("1.0.0", "long-lived")) == (
        State.PASSIVE,
        State.ACTIVE,
        State.ACTIVE,
    )
    assert not KeyProfile.objects.filter(name="long-lived", version="1.0.1").exists()


def test_expiring_within_rotates_nothing_while_every_certificate_is_far_from_expiry(
    long_lived_profile: KeyProfile, clock: TimeMachineFixture
) -> None:
    """The twin of the test above: 300 days in, the demo certificate has 65 days left."""
    clock_after(clock, days=300)
    before = snapshot()

    assert run("rotate_keyprofile", "--expiring-within", "30").stdout == "Nothing to rotate.\n"
    assert run("rotate_keyprofile", "--expiring-within", "30", "--json").json() == []
    assert snapshot() == before


def test_expiring_within_filters_by_catalog_and_organization(
    long_lived_profile: KeyProfile, clock: TimeMachineFixture
) -> None:
    organization_create(slug="other", title="Other")
    clock_after(clock, days=340)
    before = snapshot()

    assert (
        run("rotate_keyprofile", "--expiring-within", "30", "--catalog", "production").stdout == "Nothing to rotate.\n"
    )
    assert run("rotate_keyprofile", "--expiring-within", "30", "--org", "other").stdout == "Nothing to rotate.\n"
    assert snapshot() == before
    [plan] = run("rotate_keyprofile", "--expiring-within", "30", "--catalog", "sandbox", "--json").json()
    assert (plan["profile"], plan["new_version"]) == (PROFILE, "1.0.1")


def test_expiring_within_dry_run_changes_nothing(long_lived_profile: KeyProfile, clock: TimeMachineFixture) -> None:
    clock_after(clock, days=340)
    before = snapshot()

    [plan] = run("rotate_keyprofile", "--expiring-within", "30", "--dry-run", "--json").json()

    assert (plan["profile"], plan["dry_run"]) == (PROFILE, True)
    assert snapshot() == before


# -- retire_keys --------------------------------------------------------------------------------------------------


def test_retire_keys_with_nothing_due(demo: DemoSummary) -> None:
    assert run("retire_keys").stdout == "Nothing to activate or retire.\n"
    assert run("retire_keys", "--verbosity", "0").stdout == ""


def test_retire_keys_retires_a_passive_version_once_its_grace_has_ended(
    demo: DemoSummary, clock: TimeMachineFixture
) -> None:
    run("rotate_keyprofile", PROFILE, "--catalog", "sandbox")
    clock_after(clock, seconds=59)
    assert run("retire_keys").stdout == "Nothing to activate or retire.\n"
    clock_after(clock, seconds=60)

    out = run("retire_keys")

    assert out.stdout == "Retired jwt-keyprofile 1.0.0 in personal/sandbox\n"
    assert state("1.0.0") == State.RETIRED
    assert AuditEvent.objects.filter(action="keyprofile.retired", actor="cli:retire_keys").count() == 1


def test_retire_keys_dry_run_says_what_it_would_do(demo: DemoSummary, clock: TimeMachineFixture) -> None:
    run("rotate_keyprofile", PROFILE, "--catalog", "sandbox")
    clock_after(clock, seconds=60)
    before = snapshot()

    assert run("retire_keys", "--dry-run").stdout == "Would retire jwt-keyprofile 1.0.0 in personal/sandbox\n"
    assert run("retire_keys", "--dry-run", "--json").json() == {
        "activated": [],
        "retired": ["jwt-keyprofile 1.0.0 in personal/sandbox"],
        "dry_run": True,
    }
    assert snapshot() == before


def test_retire_keys_activates_a_prepublished_version_when_its_time_comes(
    demo: DemoSummary, clock: TimeMachineFixture
) -> None:
    run("rotate_keyprofile", PROFILE, "--catalog", "sandbox", "--prepublish", "1h")
    clock_after(clock, minutes=59)
    assert run("retire_keys", "--dry-run").stdout == "Nothing to activate or retire.\n"
    clock_after(clock, hours=1)
    assert run("retire_keys", "--dry-run").stdout == "Would activate jwt-keyprofile 1.0.1 in personal/sandbox\n"

    report = run("retire_keys", "--json").json()

    assert report == {"activated": ["jwt-keyprofile 1.0.1 in personal/sandbox"], "retired": [], "dry_run": False}
    assert (state("1.0.0"), state("1.0.1")) == (State.PASSIVE, State.ACTIVE)
    clock_after(clock, hours=1, seconds=60)
    assert run("retire_keys").stdout == "Retired jwt-keyprofile 1.0.0 in personal/sandbox\n"


# -- rotate_master_key ----------------------------------------------------------------------------------------------


@pytest.fixture
def two_key_ring(settings: LazySettings) -> None:
    settings.KEYPROFILES = {"MASTER_KEYS": f"test-1:{TEST_MASTER_KEY},k2:{OTHER_MASTER_KEY}", "MASTER_KEY_FILE": ""}
    keycache.clear()


@pytest.fixture
def three_keystores(two_key_ring: None, demo: DemoSummary, actor: Actor) -> list[Keystore]:
    """The demo keystore plus an EC key pair and a shared secret, all sealed under test-1."""
    organization = Catalog.objects.get(slug="sandbox").organization
    keyprofile_services.keystore_import(
        organization=organization,
        name="EC",
        certificate=fx.EC256_CERT_PEM.encode(),
        private_key=fx.EC256_KEY_PEM.encode(),
        actor=actor,
    )
    keyprofile_services.keystore_secret_create(organization=organization, name="Secret", actor=actor)
    return list(Keystore.objects.order_by("pk"))


def sealed_under() -> list[str]:
    return list(Keystore.objects.order_by("pk").values_list("sealed_key_id", flat=True))


def test_rotate_master_key_dry_run_counts_and_changes_nothing(three_keystores: list[Keystore]) -> None:
    out = run("rotate_master_key", "--new-key-id", "k2", "--dry-run")

    assert out.stdout == "3 key(s) would be re-sealed under 'k2'.\n"
    assert sealed_under() == ["test-1"] * 3


def test_rotate_master_key_refuses_a_key_id_not_in_the_ring(three_keystores: list[Keystore]) -> None:
    message = refused("rotate_master_key", "--new-key-id", "k3")

    assert message == (
        "Master key 'k3' is not in PORTAL_MASTER_KEYS (known: test-1, k2). Add it beside the current key first."
    )
    assert sealed_under() == ["test-1"] * 3


def test_rotate_master_key_refuses_a_batch_size_below_one(three_keystores: list[Keystore]) -> None:
    assert refused("rotate_master_key", "--new-key-id", "k2", "--batch-size", "0") == "--batch-size must be 1 or more."
    assert sealed_under() == ["test-1"] * 3


def test_rotate_master_key_reseals_every_key_and_shows_progress(
    three_keystores: list[Keystore], settings: LazySettings, client: Client, demo: DemoSummary
) -> None:
    out = run("rotate_master_key", "--new-key-id", "k2", "--batch-size", "2")

    assert out.stdout.splitlines() == [
        "  re-sealed 2/3",
        "  re-sealed 3/3",
        "Re-sealed 3 key(s) under master key 'k2'.",
        "Every key is now sealed under 'k2'. Make it the active key and remove the old one from PORTAL_MASTER_KEYS.",
    ]
    assert sealed_under() == ["k2"] * 3
    assert AuditEvent.objects.filter(action="keystore.reseal", actor="cli:rotate_master_key").count() == 3
    # With the old master key gone from the ring, the gateway still signs with the demo key.
    settings.KEYPROFILES = {"MASTER_KEYS": f"k2:{OTHER_MASTER_KEY}", "MASTER_KEY_FILE": ""}
    keycache.clear()
    gateway.reset()
    response = client.get(
        "/personal/sandbox/securetoken/generate",
        headers={"X-IBM-Client-Id": demo.client_id, "iss-claim": "apic", "aud-claim": "id1"},
    )
    assert response.status_code == 200


def test_rotate_master_key_quiet_shows_no_progress(three_keystores: list[Keystore]) -> None:
    out = run("rotate_master_key", "--new-key-id", "k2", "--batch-size", "1", "--verbosity", "0")

    assert "re-sealed 1/3" not in out.stdout
    assert "Re-sealed 3 key(s) under master key 'k2'." in out.stdout


def test_rotate_master_key_run_again_has_nothing_left(three_keystores: list[Keystore]) -> None:
    run("rotate_master_key", "--new-key-id", "k2")

    out = run("rotate_master_key", "--new-key-id", "k2")

    assert out.stdout.splitlines()[0] == "Re-sealed 0 key(s) under master key 'k2'."
    assert (
        run("rotate_master_key", "--new-key-id", "k2", "--dry-run").stdout
        == "0 key(s) would be re-sealed under 'k2'.\n"
    )


# -- the console's Rotate page -----------------------------------------------------------------------------------------


@pytest.fixture
def console(client: Client, django_user_model: type[AbstractUser], demo: DemoSummary) -> Client:
    user = django_user_model.objects.create_superuser(username="root", email="", password=None)
    client.force_login(user)
    return client


def rotate_url(version: str = "1.0.0") -> str:
    profile = KeyProfile.objects.get(name=PROFILE, version=version)
    return reverse("admin:keyprofiles_keyprofile_rotate", args=[profile.pk])


def form(**fields: Any) -> dict[str, Any]:
    data = {
        "catalog": Catalog.objects.get(slug="sandbox").pk,
        "source": "generate",
        "bits": "",
        "profile_version": "",
        "grace": "",
        "prepublish": "",
    }
    data.update(fields)
    return data


def messages_of(html: str) -> list[str]:
    return [re.sub(r"\s+", " ", m).strip() for m in re.findall(r'<li class="success">(.*?)</li>', html, re.S)]


def test_rotate_page_renders_the_form(console: Client) -> None:
    response = console.get(rotate_url())

    assert response.status_code == 200
    html = response.content.decode()
    assert "Rotate jwt-keyprofile 1.0.0" in html
    for name in ("catalog", "source", "bits", "keystore", "certificate", "private_key", "grace", "prepublish"):
        assert f'name="{name}"' in html
    assert '<input type="submit" value="Rotate"' in html


def test_profile_page_links_to_the_rotate_page(console: Client) -> None:
    profile = KeyProfile.objects.get(name=PROFILE, version="1.0.0")

    html = console.get(reverse("admin:keyprofiles_keyprofile_change", args=[profile.pk])).content.decode()

    assert f'href="{rotate_url()}"' in html


def activated_in_the_background() -> None:
    """What the console's background step does once every process verifies with the new key (the tests in a
    transaction never commit, so the step itself is not started there: see the transactional test below)."""
    lifecycle_tick(actor=Actor(name="root"))


def test_rotate_page_rotates_and_redirects_to_the_new_version(console: Client) -> None:
    response = console.post(rotate_url(), form(), follow=True)

    new = KeyProfile.objects.get(name=PROFILE, version="1.0.1")
    assert response.redirect_chain == [(reverse("admin:keyprofiles_keyprofile_change", args=[new.pk]), 302)]
    [message] = messages_of(response.content.decode())
    assert message.startswith("Rotated jwt-keyprofile in sandbox: 1.0.0 to 1.0.1; signs from 2030-01-01 12:00:00 UTC;")
    assert "moves jwt-generation-and-validation 1.0.0 when it signs." in message
    assert (state("1.0.0"), state("1.0.1")) == (State.ACTIVE, State.NEXT)
    assert AuditEvent.objects.get(action="keyprofile.rotate").actor == "root"
    # The new version's page lists both versions with their states and JWKS membership.
    html = response.content.decode()
    assert "Active (signs)" in html
    assert "Next (in the JWKS, not yet signing)" in html
    activated_in_the_background()
    assert (state("1.0.0"), state("1.0.1")) == (State.PASSIVE, State.ACTIVE)


def test_rotate_page_answers_without_waiting_for_propagation(
    console: Client, monkeypatch: pytest.MonkeyPatch, clock: TimeMachineFixture, django_capture_on_commit_callbacks: Any
) -> None:
    """The console answers at once: the new key verifies everywhere first (next), and the wait before it signs
    is a background step's (started after the commit), not the request's. The CLI and REST still wait."""

    def no_wait(seconds: float) -> None:
        raise AssertionError(f"the console request waited {seconds} s")

    monkeypatch.setattr(rotation, "propagation_seconds", invalidation.propagation_seconds)  # the real wait
    monkeypatch.setattr(rotation, "wait_for_propagation", no_wait)
    with django_capture_on_commit_callbacks() as callbacks:
        response = console.post(rotate_url(), form())

    assert response.status_code == 302
    signs_at = INSTANT + timedelta(seconds=invalidation.propagation_seconds())
    assert KeyProfileBinding.objects.get(profile__version="1.0.1").activates_at == signs_at
    assert (state("1.0.0"), state("1.0.1")) == (State.ACTIVE, State.NEXT)
    assert "run_later.<locals>.start" in [callback.__qualname__ for callback in callbacks]
    clock.move_to(signs_at - timedelta(seconds=0.1), tick=False)
    activated_in_the_background()
    assert state("1.0.1") == State.NEXT  # not before every process verifies with it
    clock.move_to(signs_at, tick=False)
    activated_in_the_background()
    assert (state("1.0.0"), state("1.0.1")) == (State.PASSIVE, State.ACTIVE)


def test_rotate_page_dry_run_and_prepublish_start_no_background_step(
    console: Client, django_capture_on_commit_callbacks: Any
) -> None:
    """The twins: nothing to activate (dry run), or retire_keys activates it when its time comes (prepublish)."""
    for fields in ({"dry_run": "on"}, {"prepublish": "1h"}):
        with django_capture_on_commit_callbacks() as callbacks:
            assert console.post(rotate_url(), form(**fields)).status_code == 302
        assert "run_later.<locals>.start" not in [callback.__qualname__ for callback in callbacks]
    assert (state("1.0.0"), state("1.0.1")) == (State.ACTIVE, State.NEXT)


@pytest.mark.slow
def test_the_background_step_activates_the_rotated_key(
    transactional_db: None, console: Client, clock: TimeMachineFixture
) -> None:
    """On committed data (as in production), the console's rotation starts the background step, which makes
    the new version sign and moves the API."""
    assert console.post(rotate_url(), form()).status_code == 302

    for thread in threading.enumerate():
        if thread.name.startswith(THREAD_NAME_PREFIX):
            thread.join(timeout=30)
    assert (state("1.0.0"), state("1.0.1")) == (State.PASSIVE, State.ACTIVE)
    publication = Publication.objects.get(api__name=API_NAME, catalog__slug="sandbox")
    assert "personal_sandbox_tlsp-jwt-keyprofileV1.0.1-key" in publication.document_text


def test_rotate_page_dry_run_stays_on_the_profile_and_changes_nothing(console: Client) -> None:
    before = snapshot()

    response = console.post(rotate_url(), form(dry_run="on"), follow=True)

    old = KeyProfile.objects.get(name=PROFILE, version="1.0.0")
    assert response.redirect_chain == [(reverse("admin:keyprofiles_keyprofile_change", args=[old.pk]), 302)]
    assert messages_of(response.content.decode())[0].startswith(
        "Would rotate jwt-keyprofile in sandbox: 1.0.0 to 1.0.1"
    )
    assert snapshot() == before


def test_rotate_page_shows_a_too_short_grace_and_changes_nothing(console: Client) -> None:
    before = snapshot()

    response = console.post(rotate_url(), form(grace="30s"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "The grace period 30 s is shorter than 60 s" in html
    assert snapshot() == before


def test_rotate_page_shows_an_unreadable_grace_beside_its_field(console: Client) -> None:
    before = snapshot()

    response = console.post(rotate_url(), form(grace="soon"))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<div class="form-row field-grace errors">' in html
    assert "&#x27;soon&#x27; is not a duration" in html
    assert snapshot() == before


def test_rotate_page_with_a_longer_grace(console: Client) -> None:
    console.post(rotate_url(), form(grace="2h"))
    activated_in_the_background()

    grace_end = KeyProfileBinding.objects.get(profile__version="1.0.0").grace_ends_at
    assert grace_end == INSTANT + timedelta(hours=2)


def test_rotate_page_keystore_source_needs_a_keystore(console: Client) -> None:
    before = snapshot()

    response = console.post(rotate_url(), form(source="keystore"))

    assert '<div class="form-row field-keystore errors">' in response.content.decode()
    assert snapshot() == before


def test_rotate_page_upload_source(console: Client) -> None:
    response = console.post(
        rotate_url(),
        form(
            source="upload",
            certificate=SimpleUploadedFile("cert.pem", fx.CERT2_PEM.encode()),
            private_key=SimpleUploadedFile("key.pem", fx.KEY2_PEM.encode()),
        ),
    )

    assert response.status_code == 302
    assert KeyProfile.objects.get(name=PROFILE, version="1.0.1").keystore.subject == "CN=other.example"


def test_rotate_page_is_forbidden_to_a_user_who_may_only_view(
    demo: DemoSummary, client: Client, django_user_model: type[AbstractUser]
) -> None:
    auditor = django_user_model.objects.create_user(username="auditor", password=None, is_staff=True)
    auditor.user_permissions.set(Permission.objects.filter(codename__in=["view_keyprofile", "view_keystore"]))
    client.force_login(auditor)
    before = snapshot()
    profile = KeyProfile.objects.get(name=PROFILE, version="1.0.0")

    assert client.get(rotate_url()).status_code == 403
    assert client.post(rotate_url(), form()).status_code == 403
    assert snapshot() == before
    # The profile page is readable, without the Rotate link.
    page = client.get(reverse("admin:keyprofiles_keyprofile_change", args=[profile.pk]))
    assert page.status_code == 200
    assert rotate_url() not in page.content.decode()


def test_rotate_page_is_open_to_a_user_who_may_add_profiles(
    demo: DemoSummary, client: Client, django_user_model: type[AbstractUser]
) -> None:
    """The twin of the auditor: one more permission (add_keyprofile) and the page works."""
    operator = django_user_model.objects.create_user(username="operator", password=None, is_staff=True)
    operator.user_permissions.set(
        Permission.objects.filter(codename__in=["view_keyprofile", "view_keystore", "add_keyprofile"])
    )
    client.force_login(operator)

    assert client.get(rotate_url()).status_code == 200
    assert client.post(rotate_url(), form()).status_code == 302
    assert state("1.0.1") == State.NEXT


def test_rotate_page_asks_anonymous_visitors_to_log_in(demo: DemoSummary, client: Client) -> None:
    response = client.get(rotate_url())

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_rotate_page_of_an_unknown_profile_is_not_found(console: Client) -> None:
    assert console.get(reverse("admin:keyprofiles_keyprofile_rotate", args=[999999])).status_code == 404


def test_api_publication_follows_the_console_rotation(console: Client) -> None:
    console.post(rotate_url(), form())
    activated_in_the_background()

    publication = Publication.objects.get(api__name=API_NAME, catalog__slug="sandbox")
    assert "personal_sandbox_tlsp-jwt-keyprofileV1.0.1-key" in publication.document_text
    assert "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key" not in publication.document_text


# -- found while testing (each was a strict xfail until fixed) -----------------------------------------------


def test_expiring_within_skips_a_profile_whose_rotation_is_already_pending(
    long_lived_profile: KeyProfile, clock: TimeMachineFixture
) -> None:
    clock_after(clock, days=340)
    run("rotate_keyprofile", "--expiring-within", "30", "--prepublish", "2d")
    assert state("1.0.1") == State.NEXT
    clock_after(clock, days=341)  # the next night: the new key starts signing tomorrow

    out = run("rotate_keyprofile", "--expiring-within", "30", "--prepublish", "2d")

    assert out.stdout == "Nothing to rotate.\n"
    assert state("1.0.1") == State.NEXT


def test_expiring_within_after_a_pending_rotation_took_effect_has_nothing_to_rotate(
    long_lived_profile: KeyProfile, clock: TimeMachineFixture
) -> None:
    """Twin: once retire_keys activated the new key, the profile no longer expires soon."""
    clock_after(clock, days=340)
    run("rotate_keyprofile", "--expiring-within", "30", "--prepublish", "2d")
    clock_after(clock, days=342)
    run("retire_keys")

    assert run("rotate_keyprofile", "--expiring-within", "30", "--prepublish", "2d").stdout == "Nothing to rotate.\n"


@pytest.fixture
def ec_keystore(demo: DemoSummary, actor: Actor) -> Keystore:
    return keyprofile_services.keystore_import(
        organization=Catalog.objects.get(slug="sandbox").organization,
        name="EC",
        certificate=fx.EC256_CERT_PEM.encode(),
        private_key=fx.EC256_KEY_PEM.encode(),
        actor=actor,
    )


def test_rotate_keyprofile_to_a_key_the_api_cannot_sign_with_fails_with_a_message(ec_keystore: Keystore) -> None:
    before = snapshot()

    message = refused("rotate_keyprofile", PROFILE, "--catalog", "sandbox", "--keystore", "EC")

    assert "signs with RS256, which does not fit the EC key" in message
    assert snapshot() == before


def test_rotate_keyprofile_to_a_key_of_the_same_type_from_a_keystore_works(demo: DemoSummary, actor: Actor) -> None:
    """Twin: an RSA keystore fits the RS256 policy."""
    keyprofile_services.keystore_import(
        organization=Catalog.objects.get(slug="sandbox").organization,
        name="RSA",
        certificate=fx.CERT2_PEM.encode(),
        private_key=fx.KEY2_PEM.encode(),
        actor=actor,
    )

    run("rotate_keyprofile", PROFILE, "--catalog", "sandbox", "--keystore", "RSA")

    assert state("1.0.1") == State.ACTIVE


def test_rotate_page_shows_a_key_the_api_cannot_sign_with(console: Client, ec_keystore: Keystore) -> None:
    before = snapshot()
    console.raise_request_exception = False

    response = console.post(rotate_url(), form(source="keystore", keystore=ec_keystore.pk))

    assert response.status_code == 200
    assert "signs with RS256, which does not fit the EC key" in response.content.decode()
    assert snapshot() == before


def test_rotate_master_key_stops_on_a_key_it_cannot_open_and_resumes_once_fixed(
    three_keystores: list[Keystore], settings: LazySettings
) -> None:
    """A ring without the master key the keys are sealed under: the command stops with a message naming it; with
    the key back in the ring, running it again re-seals everything."""
    settings.KEYPROFILES = {"MASTER_KEYS": f"k2:{OTHER_MASTER_KEY}", "MASTER_KEY_FILE": ""}

    message = refused("rotate_master_key", "--new-key-id", "k2")

    assert message == (
        "Stopped: Master key 'test-1' is not in PORTAL_MASTER_KEYS; add it back to open this key. Run the command "
        "again once it is fixed; it resumes."
    )
    assert sealed_under() == ["test-1"] * 3
    settings.KEYPROFILES = {"MASTER_KEYS": f"test-1:{TEST_MASTER_KEY},k2:{OTHER_MASTER_KEY}", "MASTER_KEY_FILE": ""}
    assert "Re-sealed 3 key(s)" in run("rotate_master_key", "--new-key-id", "k2").stdout
