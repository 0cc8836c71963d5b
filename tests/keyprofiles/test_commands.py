"""The keyprofiles management commands (and the key-material part of seed_demo), through call_command.

Each command is run with captured stdout and stderr; a failure must be a CommandError with a message a
person can act on, and must store nothing. Time is frozen where a command reports days to expiry.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from keyprofiles.models import CryptoObject, KeyProfile, Keystore, Truststore
from portal.models import AuditEvent, Catalog, Organization
from tests import keyfixtures as fx
from tests.commands import Output, refused, run
from tests.keyfixtures import der_of, pkcs12_of

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KEY = "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key"
CA0 = "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-ca-0"


@pytest.fixture(autouse=True)
def frozen_time() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run without a terminal, as under cron: stdin is no TTY, so nothing prompts."""
    monkeypatch.setattr(sys, "stdin", io.StringIO())


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """Every key-material fixture written to a file, by name."""
    contents: dict[str, bytes] = {
        "cert1.pem": fx.CERT1_PEM.encode(),
        "key1.pem": fx.KEY1_PEM.encode(),
        "key1-encrypted.pem": fx.KEY1_ENCRYPTED_PEM.encode(),
        "key2.pem": fx.KEY2_PEM.encode(),
        "cert1.der": der_of(fx.CERT1_PEM),
        "key1.der": der_of(fx.KEY1_PEM),
        "expired.pem": fx.EXPIRED_CERT1_PEM.encode(),
        "key1.p12": pkcs12_of(fx.KEY1_PKCS12_B64),
        "leaf.pem": fx.LEAF_CERT_PEM.encode(),
        "leaf-key.pem": fx.LEAF_KEY_PEM.encode(),
        "chain.pem": (fx.INTERMEDIATE_CERT_PEM + fx.CA_CERT_PEM).encode(),
        "cas.pem": (fx.CA_CERT_PEM + fx.INTERMEDIATE_CERT_PEM).encode(),
        "junk-key.pem": b"Key Attributes: <No Attributes>\n" + fx.KEY1_PEM.encode(),
        "random.bin": b"\x00\x01\x02 neither PEM nor DER",
        "huge.pem": b"\n" * (1024 * 1024 + 1),
        "empty.pem": b"",
    }
    paths = {}
    for name, data in contents.items():
        path = tmp_path / name
        path.write_bytes(data)
        paths[name] = str(path)
    return paths


def keystore_and_profile() -> None:
    run("generate_keystore", "JWT Keystore", "--cn", "jwt.demo.local", "--key-type", "ec")
    run("create_keyprofile", "JWT Keyprofile", "--keystore", "JWT Keystore")


# generate_keystore


def test_generate_keystore_defaults_to_rsa_2048(organization: Organization) -> None:
    out = run("generate_keystore", "JWT Keystore", "--cn", "jwt.demo.local")
    keystore = Keystore.objects.get()
    assert (keystore.key_type, keystore.key_size, keystore.source) == ("RSA", 2048, "generated")
    assert out.stdout.splitlines() == [
        "Generated keystore 'JWT Keystore' in personal.",
        "  subject:     CN=jwt.demo.local",
        "  key:         RSA 2048",
        f"  fingerprint: {keystore.fingerprint_sha256}",
        "  expires:     2027-06-01 12:00 UTC",
    ]
    assert AuditEvent.objects.get(action="keystore.generate").actor == "cli:generate_keystore"


def test_generate_keystore_ec_p384(organization: Organization) -> None:
    run("generate_keystore", "EC Keystore", "--cn", "ec.example", "--key-type", "ec", "--curve", "P-384")
    keystore = Keystore.objects.get()
    assert (keystore.key_type, keystore.key_size, keystore.curve) == ("EC", 384, "P-384")


def test_generate_keystore_json(organization: Organization) -> None:
    facts = run("generate_keystore", "EC", "--cn", "ec.example", "--key-type", "ec", "--days", "10", "--json").json()
    assert facts["name"] == "EC"
    assert facts["organization"] == "personal"
    assert facts["subject"] == "CN=ec.example"
    assert facts["days_to_expiry"] == 10
    assert facts["not_after"] == "2026-06-11T12:00:00+00:00"


def test_generate_keystore_in_an_unknown_organization(organization: Organization) -> None:
    message = refused("generate_keystore", "JWT Keystore", "--cn", "x", "--key-type", "ec", "--org", "nope")
    assert message == "No organization 'nope' (known: personal)."
    assert not Keystore.objects.exists()


def test_generate_keystore_in_a_named_organization(organization: Organization) -> None:
    run("generate_keystore", "JWT Keystore", "--cn", "x", "--key-type", "ec", "--org", "personal")
    assert Keystore.objects.get().organization == organization


def test_generate_keystore_with_no_organization_yet(db: None) -> None:
    message = refused("generate_keystore", "JWT Keystore", "--cn", "x")
    assert message == "No organization 'personal' (known: none yet)."


def test_generate_keystore_with_a_bad_parameter(organization: Organization) -> None:
    message = refused("generate_keystore", "JWT Keystore", "--cn", "x", "--key-type", "ec", "--days", "0")
    assert message == "Keystore not generated: The validity must be 1 to 3650 days."
    assert not Keystore.objects.exists()


def test_generate_keystore_under_a_taken_name(organization: Organization) -> None:
    run("generate_keystore", "JWT Keystore", "--cn", "x", "--key-type", "ec")
    message = refused("generate_keystore", "JWT Keystore", "--cn", "x", "--key-type", "ec")
    assert message == "Keystore not generated: A keystore named 'JWT Keystore' already exists in personal."
    assert Keystore.objects.count() == 1


# import_keystore


def test_import_keystore_pem(organization: Organization, files: dict[str, str]) -> None:
    out = run("import_keystore", "JWT Keystore", "--cert", files["cert1.pem"], "--key", files["key1.pem"])
    keystore = Keystore.objects.get()
    assert keystore.source == "pem"
    assert out.stdout.splitlines()[0] == "Imported keystore 'JWT Keystore' into personal."
    assert "  subject:     CN=test.example" in out.stdout
    assert "  chain:       0 intermediate certificate(s)" in out.stdout
    assert AuditEvent.objects.get(action="keystore.import").actor == "cli:import_keystore"


def test_import_keystore_der_with_chain_json(organization: Organization, files: dict[str, str]) -> None:
    facts = run(
        "import_keystore",
        "Leaf",
        "--cert",
        files["leaf.pem"],
        "--key",
        files["leaf-key.pem"],
        "--chain",
        files["chain.pem"],
        "--json",
    ).json()
    assert (facts["name"], facts["subject"], facts["issuer"]) == ("Leaf", "CN=leaf.example", "CN=Test Intermediate CA")
    assert Keystore.objects.get().chain_length == 2
    run("import_keystore", "DER", "--cert", files["cert1.der"], "--key", files["key1.der"])
    assert Keystore.objects.get(name="DER").source == "der"


def test_import_keystore_encrypted_key_with_password_env(
    organization: Organization, files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWT_KEY_PASSPHRASE", fx.KEY1_PASSPHRASE.decode())
    run(
        "import_keystore",
        "JWT Keystore",
        "--cert",
        files["cert1.pem"],
        "--key",
        files["key1-encrypted.pem"],
        "--password-env",
        "JWT_KEY_PASSPHRASE",
    )
    assert Keystore.objects.get().subject == "CN=test.example"


def test_import_keystore_encrypted_key_without_password_env(organization: Organization, files: dict[str, str]) -> None:
    message = refused(
        "import_keystore", "JWT Keystore", "--cert", files["cert1.pem"], "--key", files["key1-encrypted.pem"]
    )
    assert message == (
        "Keystore not imported: The private key is encrypted: enter its passphrase in the password field. "
        "Pass --password-env VAR naming an environment variable that holds it."
    )
    assert not Keystore.objects.exists()


def test_import_keystore_prompts_for_the_password_on_a_terminal(
    organization: Organization, files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = io.StringIO()
    terminal.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stdin", terminal)
    prompts: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or fx.KEY1_PASSPHRASE.decode())
    run("import_keystore", "JWT Keystore", "--cert", files["cert1.pem"], "--key", files["key1-encrypted.pem"])
    assert prompts == ["Password: "]
    assert Keystore.objects.count() == 1


def test_import_keystore_with_a_wrong_password_env(
    organization: Organization, files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWT_KEY_PASSPHRASE", "wrong horse")
    message = refused(
        "import_keystore",
        "JWT Keystore",
        "--cert",
        files["cert1.pem"],
        "--key",
        files["key1-encrypted.pem"],
        "--password-env",
        "JWT_KEY_PASSPHRASE",
    )
    assert message == (
        "Keystore not imported: The password does not decrypt the private key (or the key file is damaged)."
    )
    assert "wrong horse" not in message
    assert not Keystore.objects.exists()


def test_import_keystore_with_an_unset_password_env(
    organization: Organization, files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JWT_KEY_PASSPHRASE", raising=False)
    message = refused(
        "import_keystore",
        "JWT Keystore",
        "--cert",
        files["cert1.pem"],
        "--key",
        files["key1-encrypted.pem"],
        "--password-env",
        "JWT_KEY_PASSPHRASE",
    )
    assert message == "The environment variable JWT_KEY_PASSPHRASE named by --password-env is not set."


def test_import_keystore_pkcs12(
    organization: Organization, files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P12_PASSWORD", fx.PKCS12_PASSWORD.decode())
    run("import_keystore", "P12", "--p12", files["key1.p12"], "--password-env", "P12_PASSWORD")
    assert Keystore.objects.get().source == "pkcs12"


def test_import_keystore_pkcs12_without_password(organization: Organization, files: dict[str, str]) -> None:
    message = refused("import_keystore", "P12", "--p12", files["key1.p12"])
    assert message == "Keystore not imported: The PKCS#12 file is protected by a password: enter it. " + (
        "Pass --password-env VAR naming an environment variable that holds it."
    )


@pytest.mark.parametrize(
    ("cert", "key", "message"),
    [
        ("cert1.pem", "key2.pem", "The private key does not match the certificate (their public keys differ)."),
        ("expired.pem", "key1.pem", "The certificate expired on 2001-01-01 00:00 UTC."),
        (
            "cert1.pem",
            "junk-key.pem",
            "The private key file has other text before its first PEM block; remove "
            "everything outside the -----BEGIN and -----END lines.",
        ),
        ("random.bin", "key1.pem", "The certificate file is neither a PEM nor a DER certificate."),
        (
            "cert1.pem",
            "cert1.pem",
            "The private key file holds a certificate, not a private key; upload it in the certificate field.",
        ),
        (
            "huge.pem",
            "key1.pem",
            "The certificate file is larger than 1 MiB (1,048,577 bytes); key material is far smaller.",
        ),
        ("empty.pem", "key1.pem", "The certificate file is empty."),
    ],
)
def test_import_keystore_bad_upload_gets_its_own_message_and_stores_nothing(
    organization: Organization, files: dict[str, str], cert: str, key: str, message: str
) -> None:
    assert refused("import_keystore", "JWT Keystore", "--cert", files[cert], "--key", files[key]) == (
        f"Keystore not imported: {message}"
    )
    assert not Keystore.objects.exists()
    assert AuditEvent.objects.get(action="keystore.import").outcome == "failure"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cert", "cert1.pem"], "Give --cert and --key (PEM or DER), or --p12."),
        ([], "Give --cert and --key (PEM or DER), or --p12."),
        (
            ["--p12", "key1.p12", "--cert", "cert1.pem"],
            "Give either --p12, or --cert and --key (with an optional --chain), not both.",
        ),
    ],
)
def test_import_keystore_with_the_wrong_options(
    organization: Organization, files: dict[str, str], args: list[str], message: str
) -> None:
    resolved = [files.get(arg, arg) for arg in args]
    assert refused("import_keystore", "JWT Keystore", *resolved) == message


def test_import_keystore_with_a_missing_file(organization: Organization, files: dict[str, str], tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    message = refused("import_keystore", "JWT Keystore", "--cert", missing, "--key", files["key1.pem"])
    assert message == f"The certificate file '{missing}' does not exist or is not a file."


def test_import_keystore_under_a_taken_name(organization: Organization, files: dict[str, str]) -> None:
    run("import_keystore", "JWT Keystore", "--cert", files["cert1.pem"], "--key", files["key1.pem"])
    message = refused("import_keystore", "JWT Keystore", "--cert", files["cert1.pem"], "--key", files["key1.pem"])
    assert message == "Keystore not imported: A keystore named 'JWT Keystore' already exists in personal."


# import_truststore


def test_import_truststore(organization: Organization, files: dict[str, str]) -> None:
    out = run("import_truststore", "Partners", "--certs", files["cas.pem"])
    assert out.stdout.strip() == "Imported truststore 'Partners' with 2 certificate(s)."
    assert Truststore.objects.get().certificates.count() == 2


@pytest.mark.parametrize(
    ("certs", "message"),
    [
        ("expired.pem", "The certificate expired on 2001-01-01 00:00 UTC."),
        (
            "key1.pem",
            "The certificate file holds a private key, not a certificate. Upload it in the private key field.",
        ),
    ],
)
def test_import_truststore_bad_upload(
    organization: Organization, files: dict[str, str], certs: str, message: str
) -> None:
    assert refused("import_truststore", "Partners", "--certs", files[certs]) == f"Truststore not imported: {message}"
    assert not Truststore.objects.exists()


# create_keyprofile


def test_create_keyprofile_prints_both_crypto_object_names(organization: Organization) -> None:
    run("generate_keystore", "JWT Keystore", "--cn", "jwt.demo.local", "--key-type", "ec")
    out = run("create_keyprofile", "JWT Keyprofile", "--keystore", "JWT Keystore")
    assert out.stdout.splitlines() == ["Created key profile 'jwt-keyprofile' 1.0.0.", f"  {CA0}", f"  {KEY}"]
    assert AuditEvent.objects.get(action="keyprofile.enable").actor == "cli:create_keyprofile"


def test_create_keyprofile_alg_fixes_the_keystores_algorithm(organization: Organization) -> None:
    run("generate_keystore", "JWT Keystore", "--cn", "jwt.demo.local")
    facts = run("create_keyprofile", "JWT Keyprofile", "--keystore", "JWT Keystore", "--alg", "PS384", "--json").json()
    assert facts["algorithm"] == "PS384"
    assert Keystore.objects.get(name="JWT Keystore").algorithm == "PS384"
    assert AuditEvent.objects.get(action="keystore.algorithm").detail["algorithm"] == "PS384"


def test_create_keyprofile_alg_that_does_not_fit_the_key_is_refused(organization: Organization) -> None:
    run("generate_keystore", "JWT Keystore", "--cn", "jwt.demo.local", "--key-type", "ec")
    message = refused("create_keyprofile", "JWT Keyprofile", "--keystore", "JWT Keystore", "--alg", "PS384")
    assert "PS384 cannot be used with this EC key; choose one of ES256" in message
    assert not KeyProfile.objects.exists()
    assert Keystore.objects.get(name="JWT Keystore").algorithm == ""


def test_create_keyprofile_alg_other_than_the_keys_fixed_one_is_refused_naming_both(organization: Organization) -> None:
    run("generate_keystore", "JWT Keystore", "--cn", "jwt.demo.local")
    run("create_keyprofile", "JWT Keyprofile", "--keystore", "JWT Keystore", "--alg", "PS256")
    message = refused("create_keyprofile", "Other Profile", "--keystore", "JWT Keystore", "--alg", "RS256")
    assert "signs with PS256 only (one key, one algorithm), not RS256" in message
    assert run("create_keyprofile", "Third Profile", "--keystore", "JWT Keystore", "--alg", "PS256").stdout


def test_create_keyprofile_alg_without_a_keystore_is_refused(organization: Organization, files: dict[str, str]) -> None:
    run("import_truststore", "Partners", "--certs", files["cas.pem"])
    assert run("create_keyprofile", "Partner Profile", "--truststore", "Partners").stdout
    message = refused("create_keyprofile", "Other Profile", "--truststore", "Partners", "--alg", "RS256")
    assert "Only a profile with a keystore signs, so only it has an algorithm." in message


def test_create_keyprofile_json(organization: Organization, production: Catalog) -> None:
    run("generate_keystore", "JWT Keystore", "--cn", "jwt.demo.local", "--key-type", "ec")
    facts = run(
        "create_keyprofile",
        "JWT Keyprofile",
        "--keystore",
        "JWT Keystore",
        "--profile-version",
        "2.0.0",
        "--catalog",
        "sandbox",
        "--catalog",
        "production",
        "--json",
    ).json()
    assert facts == {
        "title": "JWT Keyprofile",
        "name": "jwt-keyprofile",
        "version": "2.0.0",
        "algorithm": "",
        "organization": "personal",
        "catalogs": ["sandbox", "production"],
        "crypto_objects": [
            "personal_production_tlsp-jwt-keyprofileV2.0.0-ca-0",
            "personal_production_tlsp-jwt-keyprofileV2.0.0-key",
            "personal_sandbox_tlsp-jwt-keyprofileV2.0.0-ca-0",
            "personal_sandbox_tlsp-jwt-keyprofileV2.0.0-key",
        ],
    }


def test_create_keyprofile_without_enabling(organization: Organization) -> None:
    run("generate_keystore", "JWT Keystore", "--cn", "jwt.demo.local", "--key-type", "ec")
    facts = run("create_keyprofile", "JWT Keyprofile", "--keystore", "JWT Keystore", "--no-enable", "--json").json()
    assert (facts["catalogs"], facts["crypto_objects"]) == ([], [])
    assert KeyProfile.objects.count() == 1


def test_create_keyprofile_from_a_truststore(organization: Organization, files: dict[str, str]) -> None:
    run("import_truststore", "Partners", "--certs", files["cas.pem"])
    facts = run("create_keyprofile", "Partners", "--truststore", "Partners", "--json").json()
    assert facts["crypto_objects"] == [
        "personal_sandbox_tlsp-partnersV1.0.0-ca-0",
        "personal_sandbox_tlsp-partnersV1.0.0-ca-1",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Give --keystore NAME, --truststore NAME, or both."),
        (["--keystore", "Nope"], "No keystore 'Nope' in organization 'personal' (known: JWT Keystore)."),
        (["--truststore", "Nope"], "No truststore 'Nope' in organization 'personal' (known: none yet)."),
        (
            ["--keystore", "JWT Keystore", "--catalog", "qa"],
            "No catalog 'qa' in organization 'personal' (known: sandbox).",
        ),
        (["--keystore", "JWT Keystore", "--org", "nope"], "No organization 'nope' (known: personal)."),
        (
            ["--keystore", "JWT Keystore", "--profile-version", "1.0"],
            "Key profile not created: '1.0' is not a version of the form MAJOR.MINOR.PATCH, e.g. 1.0.0.",
        ),
    ],
)
def test_create_keyprofile_refusals(organization: Organization, args: list[str], message: str) -> None:
    run("generate_keystore", "JWT Keystore", "--cn", "jwt.demo.local", "--key-type", "ec")
    assert refused("create_keyprofile", "JWT Keyprofile", *args) == message
    assert not KeyProfile.objects.exists()
    assert not CryptoObject.objects.exists()


def test_create_keyprofile_twice_is_refused(organization: Organization) -> None:
    keystore_and_profile()
    message = refused("create_keyprofile", "JWT Keyprofile", "--keystore", "JWT Keystore")
    assert message.startswith("Key profile not created: ")
    assert "already exists" in message
    assert KeyProfile.objects.count() == 1


# list_crypto_objects


def test_list_crypto_objects_text(organization: Organization) -> None:
    keystore_and_profile()
    lines = run("list_crypto_objects").stdout.splitlines()
    assert lines == [
        f"{CA0}  certificate  CN=jwt.demo.local  expires in 365 days",
        f"{KEY}  key  CN=jwt.demo.local  expires in 365 days",
    ]


def test_list_crypto_objects_when_there_are_none(organization: Organization) -> None:
    assert run("list_crypto_objects").stdout.strip() == "No crypto objects."


def test_list_crypto_objects_json(organization: Organization, production: Catalog) -> None:
    keystore_and_profile()
    objects = run("list_crypto_objects", "--org", "personal", "--catalog", "sandbox", "--json").json()
    assert [(o["name"], o["role"], o["catalog"], o["days_to_expiry"]) for o in objects] == [
        (CA0, "certificate", "sandbox", 365),
        (KEY, "key", "sandbox", 365),
    ]
    assert run("list_crypto_objects", "--org", "personal", "--catalog", "production", "--json").json() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "nope"], "No organization 'nope' (known: personal)."),
        (["--org", "personal", "--catalog", "qa"], "No catalog 'qa' in organization 'personal' (known: sandbox)."),
    ],
)
def test_list_crypto_objects_with_unknown_names(organization: Organization, args: list[str], message: str) -> None:
    assert refused("list_crypto_objects", *args) == message


# check_key_expiry


def expiry(*args: str) -> tuple[int, Output]:
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        call_command("check_key_expiry", *args, stdout=stdout, stderr=stderr)
    except SystemExit as e:
        return int(e.code or 0), Output(stdout.getvalue(), stderr.getvalue())
    return 0, Output(stdout.getvalue(), stderr.getvalue())


def test_check_key_expiry_exits_1_when_a_certificate_expires_within_the_horizon(organization: Organization) -> None:
    run("generate_keystore", "Short", "--cn", "short.example", "--key-type", "ec", "--days", "10")
    run("generate_keystore", "Long", "--cn", "long.example", "--key-type", "ec", "--days", "365")
    status, out = expiry()
    assert status == 1
    assert out.stdout.splitlines() == [
        "personal: keystore 'Short' CN=short.example expires in 10 days (2026-06-11); enabled in no catalog"
    ]


def test_check_key_expiry_exits_0_when_nothing_expires_within_the_horizon(organization: Organization) -> None:
    run("generate_keystore", "Short", "--cn", "short.example", "--key-type", "ec", "--days", "10")
    status, out = expiry("--within", "9")
    assert status == 0
    assert out.stdout.strip() == "No certificate expires within 9 days."


def test_check_key_expiry_horizon_is_inclusive(organization: Organization) -> None:
    run("generate_keystore", "Short", "--cn", "short.example", "--key-type", "ec", "--days", "10")
    assert expiry("--within", "10")[0] == 1


def test_check_key_expiry_reports_an_expired_certificate(organization: Organization) -> None:
    run("generate_keystore", "Short", "--cn", "short.example", "--key-type", "ec", "--days", "10")
    with time_machine.travel(datetime(2026, 6, 14, 12, 0, tzinfo=UTC), tick=False):
        status, out = expiry("--within", "0")
    assert status == 1
    assert "keystore 'Short' CN=short.example expired 3 days ago (2026-06-11)" in out.stdout


def test_check_key_expiry_json(organization: Organization) -> None:
    run("generate_keystore", "Short", "--cn", "short.example", "--key-type", "ec", "--days", "10")
    run("create_keyprofile", "JWT Keyprofile", "--keystore", "Short")
    status, out = expiry("--json")
    assert status == 1
    [item] = out.json()
    assert (item["store_kind"], item["store"], item["organization"]) == ("keystore", "Short", "personal")
    assert (item["subject"], item["days_to_expiry"], item["not_after"]) == (
        "CN=short.example",
        10,
        "2026-06-11T12:00:00+00:00",
    )
    assert "personal/sandbox" in item["catalogs"]


def test_check_key_expiry_json_when_nothing_expires(organization: Organization) -> None:
    status, out = expiry("--json")
    assert status == 0
    assert out.json() == []


def test_check_key_expiry_refuses_a_negative_horizon(organization: Organization) -> None:
    with pytest.raises(CommandError, match=re.escape("--within takes a number of days from 0 to 36525.")) as caught:
        call_command("check_key_expiry", "--within", "-1", stdout=io.StringIO())
    assert caught.value.returncode == 2  # not 1, which tells cron that certificates expire


# seed_demo: its key-material part


def seed(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("PORTAL_ADMIN_PASSWORD", "demo-admin-password-42")
    return run("seed_demo", "--json").json()


def test_seed_demo_creates_the_demo_key_material(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = seed(monkeypatch)
    assert summary["organization"] == "personal"
    assert sorted(summary["catalogs"]) == ["production", "sandbox"]
    assert summary["keystores"] == ["JWT Keystore"]
    assert summary["profiles"] == ["jwt-keyprofile 1.0.0"]
    assert sorted(summary["crypto_objects"]) == [CA0, KEY]
    assert summary["admin_user"] == "admin"
    assert "admin_password" not in summary  # chosen through the environment, so not printed
    keystore = Keystore.objects.get()
    assert (keystore.subject, keystore.key_type, keystore.key_size) == ("CN=jwt.demo.local", "RSA", 2048)
    profile = KeyProfile.objects.get()
    assert (profile.title, profile.version, profile.keystore) == ("JWT Keyprofile", "1.0.0", keystore)
    assert list(profile.bindings.values_list("catalog__slug", flat=True)) == ["sandbox"]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser
    assert admin.check_password("demo-admin-password-42")


def test_seed_demo_twice_is_idempotent(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    first = seed(monkeypatch)
    counted = (Organization, Catalog, Keystore, KeyProfile, CryptoObject, get_user_model())
    counts = [model.objects.count() for model in counted]
    fingerprint = Keystore.objects.get().fingerprint_sha256
    second = seed(monkeypatch)
    assert second == first
    assert [model.objects.count() for model in counted] == counts
    assert Keystore.objects.get().fingerprint_sha256 == fingerprint
