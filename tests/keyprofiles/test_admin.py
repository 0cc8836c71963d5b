"""The key-material console (Django admin), through the test client as a logged-in user.

Refusals must show beside the field at fault and store nothing; sealed key material must never reach a
page or a download; read-only users can look but not change.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import AbstractUser, Group, Permission
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils.http import parse_header_parameters

from keyprofiles import keymaterial, services
from keyprofiles.admin import expiry_badge
from keyprofiles.models import CryptoObject, KeyProfile, Keystore, Truststore
from portal.models import AuditEvent, Catalog, Organization
from portal.services import Actor
from tests import keyfixtures as fx

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


def upload(name: str, text: str | bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode() if isinstance(text, str) else text)


def form_row(html: str, field: str) -> str:
    """The HTML of one field's row in the service form: from its opening div to the next row or the end."""
    start = html.index(f'<div class="form-row field-{field}')
    following = html.find('<div class="form-row field-', start + 1)
    end = following if following != -1 else html.index("</fieldset>", start)
    return html[start:end]


def rows_with_errors(html: str) -> list[str]:
    return re.findall(r'<div class="form-row field-([a-z0-9_]+) errors">', html)


@pytest.fixture
def superuser(db: None, django_user_model: type[AbstractUser]) -> AbstractUser:
    return django_user_model.objects.create_superuser(username="root", email="", password=None)


@pytest.fixture
def console(client: Client, superuser: AbstractUser) -> Client:
    client.force_login(superuser)
    return client


@pytest.fixture
def keystore(organization: Organization, actor: Actor) -> Keystore:
    return services.keystore_import(
        organization=organization,
        name="JWT Keystore",
        certificate=fx.CERT1_PEM.encode(),
        private_key=fx.KEY1_PEM.encode(),
        actor=actor,
    )


def viewer(client: Client, django_user_model: type[AbstractUser], *codenames: str) -> Client:
    user = django_user_model.objects.create_user(username="auditor", password=None, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


# Keystore upload


def post_upload(console: Client, organization: Organization, **files: Any) -> Any:
    data = {"organization": organization.pk, "name": "JWT Keystore", **files}
    return console.post(reverse("admin:keyprofiles_keystore_add"), data)


def test_upload_of_a_key_not_matching_its_certificate_shows_the_error_beside_the_key(
    console: Client, organization: Organization
) -> None:
    response = post_upload(
        console, organization, certificate=upload("cert.pem", fx.CERT1_PEM), private_key=upload("key.pem", fx.KEY2_PEM)
    )
    assert response.status_code == 200
    html = response.content.decode()
    message = "The private key does not match the certificate (their public keys differ)."
    assert message in form_row(html, "private_key")
    assert 'class="errorlist"' in form_row(html, "private_key")
    assert rows_with_errors(html) == ["private_key"]
    assert message not in form_row(html, "certificate")
    assert not Keystore.objects.exists()
    event = AuditEvent.objects.get(action="keystore.import")
    assert (event.actor, event.outcome, event.detail["code"]) == ("root", "failure", "key_certificate_mismatch")


def test_upload_of_a_matching_key_and_certificate_redirects_to_the_keystore(
    console: Client, organization: Organization
) -> None:
    response = post_upload(
        console, organization, certificate=upload("cert.pem", fx.CERT1_PEM), private_key=upload("key.pem", fx.KEY1_PEM)
    )
    keystore = Keystore.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:keyprofiles_keystore_change", args=[keystore.pk])
    assert (keystore.name, keystore.source, keystore.subject) == ("JWT Keystore", "pem", "CN=test.example")
    assert AuditEvent.objects.get(action="keystore.import").user is not None


def test_upload_with_a_wrong_passphrase_shows_the_error_beside_the_password(
    console: Client, organization: Organization
) -> None:
    files = {"certificate": upload("c.pem", fx.CERT1_PEM), "private_key": upload("k.pem", fx.KEY1_ENCRYPTED_PEM)}
    response = post_upload(console, organization, password="wrong horse", **files)
    html = response.content.decode()
    assert "The password does not decrypt the private key" in form_row(html, "password")
    assert "wrong horse" not in html  # the password field is never rendered back
    assert not Keystore.objects.exists()


def test_upload_with_the_right_passphrase_is_stored(console: Client, organization: Organization) -> None:
    files = {"certificate": upload("c.pem", fx.CERT1_PEM), "private_key": upload("k.pem", fx.KEY1_ENCRYPTED_PEM)}
    response = post_upload(console, organization, password=fx.KEY1_PASSPHRASE.decode(), **files)
    assert response.status_code == 302
    assert Keystore.objects.count() == 1


def test_upload_of_a_pkcs12_file(console: Client, organization: Organization) -> None:
    response = post_upload(
        console,
        organization,
        pkcs12=upload("k.p12", fx.pkcs12_of(fx.KEY1_PKCS12_B64)),
        password=fx.PKCS12_PASSWORD.decode(),
    )
    assert response.status_code == 302
    assert Keystore.objects.get().source == "pkcs12"


def test_upload_without_files_marks_both_fields(console: Client, organization: Organization) -> None:
    html = post_upload(console, organization).content.decode()
    assert rows_with_errors(html) == ["certificate", "private_key"]
    assert "Upload the private key that belongs to the certificate, or a PKCS#12 file instead." in form_row(
        html, "private_key"
    )
    assert "Upload a certificate, or a PKCS#12 file instead." in form_row(html, "certificate")


# A refused upload reports every problem at once, and says which files to choose again (issue 15, item 6)

NOT_A_CERTIFICATE = "The certificate file is neither a PEM nor a DER certificate."


def test_upload_of_a_text_certificate_without_a_key_reports_both(console: Client, organization: Organization) -> None:
    html = post_upload(console, organization, certificate=upload("notes.txt", "hello")).content.decode()
    assert rows_with_errors(html) == ["certificate", "private_key"]
    assert NOT_A_CERTIFICATE in form_row(html, "certificate")
    assert "Upload the private key that belongs to the certificate" in form_row(html, "private_key")
    assert not Keystore.objects.exists()


def test_upload_of_a_good_certificate_without_a_key_reports_only_the_key(
    console: Client, organization: Organization
) -> None:
    html = post_upload(console, organization, certificate=upload("cert.pem", fx.CERT1_PEM)).content.decode()
    assert rows_with_errors(html) == ["private_key"]


def test_upload_of_a_taken_name_and_two_bad_files_reports_all_three(
    console: Client, organization: Organization, keystore: Keystore
) -> None:
    files = {"certificate": upload("notes.txt", "hello"), "private_key": upload("key.txt", "not a key")}
    html = post_upload(console, organization, **files).content.decode()
    assert rows_with_errors(html) == ["name", "certificate", "private_key"]
    assert "A keystore named &#x27;JWT Keystore&#x27; already exists in personal." in form_row(html, "name")
    assert NOT_A_CERTIFICATE in form_row(html, "certificate")
    assert "The private key file is neither a PEM nor a DER private key." in form_row(html, "private_key")
    assert Keystore.objects.count() == 1


def test_a_refused_upload_keeps_the_fields_and_names_the_files_to_choose_again(
    console: Client, organization: Organization
) -> None:
    files = {"certificate": upload("cert.pem", fx.CERT1_PEM), "private_key": upload("other-key.pem", fx.KEY2_PEM)}
    html = post_upload(console, organization, password="s3cret", **files).content.decode()
    assert 'value="JWT Keystore"' in form_row(html, "name")
    assert "You chose “cert.pem”: choose it again" in form_row(html, "certificate")
    assert "You chose “other-key.pem”: choose it again" in form_row(html, "private_key")
    assert "You chose" not in form_row(html, "chain")
    assert "s3cret" not in html


def test_a_fresh_upload_form_names_no_file(console: Client) -> None:
    assert "You chose" not in console.get(reverse("admin:keyprofiles_keystore_add")).content.decode()


def test_upload_form_renders(console: Client) -> None:
    response = console.get(reverse("admin:keyprofiles_keystore_add"))
    assert response.status_code == 200
    html = response.content.decode()
    for field in ("organization", "name", "certificate", "private_key", "chain", "pkcs12", "password"):
        assert f'<div class="form-row field-{field}' in html
    assert rows_with_errors(html) == []


# Generate and secret forms


def test_generate_form_creates_a_keystore(console: Client, organization: Organization) -> None:
    assert console.get(reverse("admin:keyprofiles_keystore_generate")).status_code == 200
    response = console.post(
        reverse("admin:keyprofiles_keystore_generate"),
        {
            "organization": organization.pk,
            "name": "JWT Keystore",
            "common_name": "jwt.demo.local",
            "key_type": "EC",
            "bits": "2048",
            "curve": "P-256",
            "days": "365",
        },
    )
    keystore = Keystore.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:keyprofiles_keystore_change", args=[keystore.pk])
    assert (keystore.source, keystore.key_type, keystore.curve, keystore.subject) == (
        "generated",
        "EC",
        "P-256",
        "CN=jwt.demo.local",
    )


def test_generate_form_under_a_taken_name_shows_the_error_beside_the_name(
    console: Client, organization: Organization, keystore: Keystore
) -> None:
    response = console.post(
        reverse("admin:keyprofiles_keystore_generate"),
        {
            "organization": organization.pk,
            "name": "JWT Keystore",
            "common_name": "jwt.demo.local",
            "key_type": "EC",
            "bits": "2048",
            "curve": "P-256",
            "days": "365",
        },
    )
    html = response.content.decode()
    assert "A keystore named &#x27;JWT Keystore&#x27; already exists in personal." in form_row(html, "name")
    assert Keystore.objects.count() == 1


def test_secret_form_generates_a_secret(console: Client, organization: Organization) -> None:
    response = console.post(
        reverse("admin:keyprofiles_keystore_secret"), {"organization": organization.pk, "name": "HS"}
    )
    assert response.status_code == 302
    keystore = Keystore.objects.get()
    assert (keystore.kind, keystore.source, keystore.key_size) == ("secret", "generated", 256)


def test_secret_form_refuses_a_short_secret_beside_its_field(console: Client, organization: Organization) -> None:
    short = bytes(range(31)).hex()
    response = console.post(
        reverse("admin:keyprofiles_keystore_secret"),
        {"organization": organization.pk, "name": "HS", "secret": upload("s.txt", short)},
    )
    html = response.content.decode()
    assert "The secret has 31 bytes (read as hex); at least 32 are needed." in form_row(html, "secret")
    assert short not in html
    assert not Keystore.objects.exists()


def test_secret_form_accepts_an_uploaded_32_byte_secret(console: Client, organization: Organization) -> None:
    response = console.post(
        reverse("admin:keyprofiles_keystore_secret"),
        {"organization": organization.pk, "name": "HS", "secret": upload("s.txt", bytes(range(32)).hex())},
    )
    assert response.status_code == 302
    assert Keystore.objects.get().source == "secret"


# Truststore upload


def test_truststore_upload_shows_its_certificates(console: Client, organization: Organization) -> None:
    response = console.post(
        reverse("admin:keyprofiles_truststore_add"),
        {
            "organization": organization.pk,
            "name": "Partners",
            "certificate": upload("cas.pem", fx.CA_CERT_PEM + fx.INTERMEDIATE_CERT_PEM),
        },
    )
    truststore = Truststore.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:keyprofiles_truststore_change", args=[truststore.pk])
    html = console.get(response["Location"]).content.decode()
    assert "CN=Test Root CA" in html
    assert "CN=Test Intermediate CA" in html


def test_truststore_upload_of_an_expired_certificate_stores_nothing(
    console: Client, organization: Organization
) -> None:
    response = console.post(
        reverse("admin:keyprofiles_truststore_add"),
        {"organization": organization.pk, "name": "Partners", "certificate": upload("c.pem", fx.EXPIRED_CERT1_PEM)},
    )
    assert response.status_code == 200
    assert "The certificate expired on 2001-01-01 00:00 UTC." in response.content.decode()
    assert not Truststore.objects.exists()


def test_truststore_upload_refusal_shows_beside_the_file_field(console: Client, organization: Organization) -> None:
    response = console.post(
        reverse("admin:keyprofiles_truststore_add"),
        {"organization": organization.pk, "name": "Partners", "certificate": upload("c.pem", fx.EXPIRED_CERT1_PEM)},
    )
    assert "The certificate expired on 2001-01-01 00:00 UTC." in form_row(response.content.decode(), "certificate")


# Key profiles


def test_keyprofile_form_enables_in_sandbox_and_shows_the_crypto_objects(
    console: Client, organization: Organization, keystore: Keystore, sandbox: Catalog
) -> None:
    response = console.post(
        reverse("admin:keyprofiles_keyprofile_add"),
        {
            "organization": organization.pk,
            "title": "JWT Keyprofile",
            "version": "1.0.0",
            "keystore": keystore.pk,
            "catalogs": [sandbox.pk],
        },
    )
    profile = KeyProfile.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:keyprofiles_keyprofile_change", args=[profile.pk])
    html = console.get(response["Location"]).content.decode()
    assert "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key" in html
    assert "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-ca-0" in html


@pytest.mark.filterwarnings("error::django.utils.deprecation.RemovedInDjango60Warning")
def test_keyprofile_page_uses_no_api_removed_in_django_6(
    console: Client, organization: Organization, keystore: Keystore, sandbox: Catalog, actor: Actor
) -> None:
    profile = services.keyprofile_create(
        organization=organization, title="JWT Keyprofile", keystore=keystore, catalogs=[sandbox], actor=actor
    )
    assert console.get(reverse("admin:keyprofiles_keyprofile_change", args=[profile.pk])).status_code == 200


@pytest.mark.filterwarnings("error::django.utils.deprecation.RemovedInDjango60Warning")
def test_keystore_page_uses_no_api_removed_in_django_6(console: Client, keystore: Keystore) -> None:
    # Twin of the test above: the same check on a page without the crypto object list.
    assert console.get(reverse("admin:keyprofiles_keystore_change", args=[keystore.pk])).status_code == 200


def test_keyprofile_form_refuses_a_version_that_is_not_semver(
    console: Client, organization: Organization, keystore: Keystore, sandbox: Catalog
) -> None:
    response = console.post(
        reverse("admin:keyprofiles_keyprofile_add"),
        {
            "organization": organization.pk,
            "title": "JWT Keyprofile",
            "version": "1.0",
            "keystore": keystore.pk,
            "catalogs": [sandbox.pk],
        },
    )
    html = response.content.decode()
    assert rows_with_errors(html) == ["version"]
    assert "is not a version of the form MAJOR.MINOR.PATCH" in form_row(html, "version")
    assert not KeyProfile.objects.exists()
    assert not CryptoObject.objects.exists()


def test_keyprofile_form_fixes_the_chosen_signing_algorithm(
    console: Client, organization: Organization, keystore: Keystore, sandbox: Catalog
) -> None:
    response = console.post(
        reverse("admin:keyprofiles_keyprofile_add"),
        {"organization": organization.pk, "title": "JWT Keyprofile", "version": "1.0.0", "keystore": keystore.pk,
         "algorithm": "PS512", "catalogs": [sandbox.pk]},
    )  # fmt: skip
    assert response.status_code == 302
    keystore.refresh_from_db()
    assert keystore.algorithm == "PS512"


def test_keyprofile_form_refuses_an_algorithm_the_key_cannot_use_beside_the_field(
    console: Client, organization: Organization, keystore: Keystore, sandbox: Catalog
) -> None:
    # Twin of the test above: an EC algorithm for the RSA key.
    response = console.post(
        reverse("admin:keyprofiles_keyprofile_add"),
        {"organization": organization.pk, "title": "JWT Keyprofile", "version": "1.0.0", "keystore": keystore.pk,
         "algorithm": "ES256", "catalogs": [sandbox.pk]},
    )  # fmt: skip
    html = response.content.decode()
    assert rows_with_errors(html) == ["algorithm"]
    assert "ES256 cannot be used with this RSA key" in form_row(html, "algorithm")
    assert not KeyProfile.objects.exists()
    keystore.refresh_from_db()
    assert keystore.algorithm == ""


def test_keyprofile_enable_page_enables_in_another_catalog(
    console: Client, organization: Organization, keystore: Keystore, production: Catalog, actor: Actor
) -> None:
    profile = services.keyprofile_create(
        organization=organization, title="JWT Keyprofile", keystore=keystore, actor=actor
    )
    url = reverse("admin:keyprofiles_keyprofile_enable", args=[profile.pk])
    assert console.get(url).status_code == 200
    response = console.post(url, {"catalog": production.pk})
    assert response.status_code == 302
    assert sorted(CryptoObject.objects.values_list("name", flat=True)) == [
        "personal_production_tlsp-jwt-keyprofileV1.0.0-ca-0",
        "personal_production_tlsp-jwt-keyprofileV1.0.0-key",
    ]


# Downloads and the keystore page


def test_certificate_download_is_the_certificate_pem(console: Client, keystore: Keystore) -> None:
    response = console.get(reverse("admin:keyprofiles_keystore_certificate", args=[keystore.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-pem-file"
    assert response["Content-Disposition"] == 'attachment; filename="JWT Keystore.pem"'
    assert response.content.decode() == keystore.certificate_pem
    assert b"PRIVATE KEY" not in response.content


def test_public_jwk_download_has_a_kid_and_no_private_member(console: Client, keystore: Keystore) -> None:
    response = console.get(reverse("admin:keyprofiles_keystore_jwk", args=[keystore.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jwk+json"
    jwk = json.loads(response.content)
    assert set(jwk) == {"kty", "n", "e", "kid", "x5c"}
    assert not PRIVATE_JWK_MEMBERS & set(jwk)
    assert jwk["kid"] == keymaterial.jwk_thumbprint({"kty": jwk["kty"], "n": jwk["n"], "e": jwk["e"]})
    assert base64.b64decode(jwk["x5c"][0]) == fx.der_of(fx.CERT1_PEM)


def test_downloads_of_a_secret_keystore_are_not_found(
    console: Client, organization: Organization, actor: Actor
) -> None:
    secret = services.keystore_secret_create(organization=organization, name="HS", actor=actor)
    assert console.get(reverse("admin:keyprofiles_keystore_jwk", args=[secret.pk])).status_code == 404
    assert console.get(reverse("admin:keyprofiles_keystore_certificate", args=[secret.pk])).status_code == 404


def test_keystore_page_shows_no_sealed_data(console: Client, keystore: Keystore) -> None:
    response = console.get(reverse("admin:keyprofiles_keystore_change", args=[keystore.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert keystore.fingerprint_sha256 in html  # the page does show the keystore
    assert "field-sealed" not in html
    assert "sealed_" not in html
    ciphertext = bytes(keystore.sealed_ciphertext)
    for encoded in (
        base64.b64encode(ciphertext).decode(),
        ciphertext.hex(),
        base64.b64encode(ciphertext[:48]).decode(),
    ):
        assert encoded not in html
    assert base64.b64encode(bytes(keystore.sealed_nonce)).decode() not in html
    assert "PRIVATE KEY" not in html


def test_keystore_list_shows_the_keystore(console: Client, keystore: Keystore) -> None:
    html = console.get(reverse("admin:keyprofiles_keystore_changelist")).content.decode()
    assert "JWT Keystore" in html
    assert "RSA 2048" in html
    assert reverse("admin:keyprofiles_keystore_generate") in html


# The audit log is read-only


def test_audit_event_admin_is_read_only(console: Client, keystore: Keystore) -> None:
    event = AuditEvent.objects.get(action="keystore.import")
    changelist = console.get(reverse("admin:portal_auditevent_changelist"))
    assert changelist.status_code == 200
    assert "keystore.import" in changelist.content.decode()
    assert reverse("admin:portal_auditevent_add") not in changelist.content.decode()
    assert console.get(reverse("admin:portal_auditevent_add")).status_code == 403
    change_url = reverse("admin:portal_auditevent_change", args=[event.pk])
    page = console.get(change_url)
    assert page.status_code == 200  # viewable
    assert 'name="_save"' not in page.content.decode()
    assert console.post(change_url, {"action": "tampered"}).status_code == 403
    assert console.post(reverse("admin:portal_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.action == "keystore.import"


def test_catalog_admin_allows_a_superuser_to_add(console: Client) -> None:
    # Twin of the test above: the same superuser may add where the admin permits it.
    assert console.get(reverse("admin:portal_catalog_add")).status_code == 200


# Permissions


def test_view_only_user_lists_keystores_but_cannot_generate_or_upload(
    client: Client, django_user_model: type[AbstractUser], keystore: Keystore, organization: Organization
) -> None:
    auditor = viewer(client, django_user_model, "view_keystore")
    assert auditor.get(reverse("admin:keyprofiles_keystore_changelist")).status_code == 200
    assert auditor.get(reverse("admin:keyprofiles_keystore_certificate", args=[keystore.pk])).status_code == 200
    assert auditor.get(reverse("admin:keyprofiles_keystore_generate")).status_code == 403
    assert auditor.get(reverse("admin:keyprofiles_keystore_secret")).status_code == 403
    assert auditor.get(reverse("admin:keyprofiles_keystore_add")).status_code == 403
    response = auditor.post(
        reverse("admin:keyprofiles_keystore_add"),
        {
            "organization": organization.pk,
            "name": "Sneaky",
            "certificate": upload("c.pem", fx.CERT1_PEM),
            "private_key": upload("k.pem", fx.KEY1_PEM),
        },
    )
    assert response.status_code == 403
    assert Keystore.objects.count() == 1


def test_user_with_add_permission_may_generate_and_upload(
    client: Client, django_user_model: type[AbstractUser]
) -> None:
    operator = viewer(client, django_user_model, "view_keystore", "add_keystore")
    assert operator.get(reverse("admin:keyprofiles_keystore_generate")).status_code == 200
    assert operator.get(reverse("admin:keyprofiles_keystore_add")).status_code == 200


def test_staff_user_without_view_permission_cannot_download(
    client: Client, django_user_model: type[AbstractUser], keystore: Keystore
) -> None:
    nobody = viewer(client, django_user_model)
    assert nobody.get(reverse("admin:keyprofiles_keystore_certificate", args=[keystore.pk])).status_code == 403
    assert nobody.get(reverse("admin:keyprofiles_keystore_jwk", args=[keystore.pk])).status_code == 403


# Deleting keystores


def test_console_refuses_to_delete_a_keystore_in_use(
    console: Client, organization: Organization, keystore: Keystore, actor: Actor
) -> None:
    services.keyprofile_create(organization=organization, title="JWT Keyprofile", keystore=keystore, actor=actor)
    response = console.post(reverse("admin:keyprofiles_keystore_delete", args=[keystore.pk]), {"post": "yes"})
    assert response.status_code == 200
    assert "would require deleting the following protected related objects" in response.content.decode()
    assert Keystore.objects.filter(pk=keystore.pk).exists()
    assert not AuditEvent.objects.filter(action="keystore.delete").exists()


def test_console_deletes_an_unused_keystore_through_the_service(console: Client, keystore: Keystore) -> None:
    response = console.post(reverse("admin:keyprofiles_keystore_delete", args=[keystore.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Keystore.objects.exists()
    assert AuditEvent.objects.get(action="keystore.delete").actor == "root"


# Expiry badges


def expiring_keystore(organization: Organization, actor: Actor, days: int) -> Keystore:
    return services.keystore_generate(
        organization=organization, name=f"{days} days", common_name="x", key_type="EC", days=days, actor=actor, now=NOW
    )


@pytest.mark.parametrize(("days", "colour"), [(10, "red"), (60, "amber")])
def test_expiry_badge_colours_with_the_default_windows(
    organization: Organization, actor: Actor, days: int, colour: str
) -> None:
    keystore = expiring_keystore(organization, actor, days)
    with time_machine.travel(NOW, tick=False):
        badge = expiry_badge(keystore)
    # A class, not a style attribute: the console's CSP allows no inline style.
    assert f'<strong class="expiry-text-{colour}">{days} days</strong>' == badge


def test_expiry_badge_beyond_the_windows_is_plain(organization: Organization, actor: Actor) -> None:
    keystore = expiring_keystore(organization, actor, 365)
    with time_machine.travel(NOW, tick=False):
        assert expiry_badge(keystore) == "365 days"


def test_expiry_badge_follows_the_configured_windows(organization: Organization, actor: Actor, settings: Any) -> None:
    settings.KEYPROFILES = {**settings.KEYPROFILES, "EXPIRY_WARNING_DAYS": 7, "EXPIRY_NOTICE_DAYS": 14}
    keystore = expiring_keystore(organization, actor, 60)
    with time_machine.travel(NOW, tick=False):
        assert expiry_badge(keystore) == "60 days"


# Console roles


def member_of(client: Client, django_user_model: type[AbstractUser], role: str) -> Client:
    user = django_user_model.objects.create_user(username=role.lower(), password=None, is_staff=True)
    user.groups.set([Group.objects.get(name=role)])
    client.force_login(user)
    return client


def test_auditor_reads_keystores_but_cannot_generate_or_upload(
    client: Client, django_user_model: type[AbstractUser], keystore: Keystore
) -> None:
    auditor = member_of(client, django_user_model, "Auditors")
    assert auditor.get(reverse("admin:keyprofiles_keystore_changelist")).status_code == 200
    assert auditor.get(reverse("admin:keyprofiles_keystore_change", args=[keystore.pk])).status_code == 200
    assert auditor.get(reverse("admin:keyprofiles_keystore_generate")).status_code == 403
    assert auditor.get(reverse("admin:keyprofiles_keystore_add")).status_code == 403
    assert auditor.get(reverse("admin:keyprofiles_keyprofile_add")).status_code == 403


def test_operator_may_generate_and_upload(client: Client, django_user_model: type[AbstractUser]) -> None:
    operator = member_of(client, django_user_model, "Operators")
    assert operator.get(reverse("admin:keyprofiles_keystore_generate")).status_code == 200
    assert operator.get(reverse("admin:keyprofiles_keystore_add")).status_code == 200
    assert operator.get(reverse("admin:keyprofiles_keyprofile_add")).status_code == 200


# Content-Disposition and names (issue 9, finding 6)

INJECTING_NAME = "x\"; filename*=UTF-8''evil.html; x=\""
DOWNLOADS = [("keyprofiles_keystore_certificate", ".pem"), ("keyprofiles_keystore_jwk", ".jwk.json")]


def download_filename(response: Any) -> tuple[str, dict[str, str]]:
    """The disposition and its parameters, parsed as a browser reads RFC 6266 (filename* decoded)."""
    disposition, params = parse_header_parameters(response["Content-Disposition"])
    return disposition, params


@pytest.mark.parametrize(("view", "suffix"), DOWNLOADS)
def test_a_download_named_to_inject_a_filename_parameter_keeps_its_one_quoted_name(
    console: Client, organization: Organization, actor: Actor, view: str, suffix: str
) -> None:
    keystore = services.keystore_import(
        organization=organization,
        name=INJECTING_NAME,
        certificate=fx.CERT1_PEM.encode(),
        private_key=fx.KEY1_PEM.encode(),
        actor=actor,
    )
    response = console.get(reverse(f"admin:{view}", args=[keystore.pk]))
    disposition, params = download_filename(response)
    assert response.status_code == 200
    assert disposition == "attachment"
    assert params == {"filename": INJECTING_NAME + suffix}


@pytest.mark.parametrize(("view", "suffix"), DOWNLOADS)
def test_a_download_of_a_plain_name_is_quoted_as_before(
    console: Client, keystore: Keystore, view: str, suffix: str
) -> None:
    response = console.get(reverse(f"admin:{view}", args=[keystore.pk]))
    assert response["Content-Disposition"] == f'attachment; filename="JWT Keystore{suffix}"'


@pytest.mark.parametrize(("view", "suffix"), DOWNLOADS)
def test_a_stored_name_with_cr_lf_downloads_without_breaking_the_header(
    console: Client, keystore: Keystore, view: str, suffix: str
) -> None:
    # A row stored before names were checked: the header must still be one line, never a 500.
    Keystore.objects.filter(pk=keystore.pk).update(name="a\r\nSet-Cookie: x=1")
    response = console.get(reverse(f"admin:{view}", args=[keystore.pk]))
    assert response.status_code == 200
    assert "\r" not in response["Content-Disposition"]
    assert "\n" not in response["Content-Disposition"]
    assert response["Content-Disposition"] == f"attachment; filename*=utf-8''a%0D%0ASet-Cookie%3A%20x%3D1{suffix}"
    assert "Set-Cookie" not in response.headers


GENERATE = {"common_name": "jwt.demo.local", "key_type": "EC", "bits": "2048", "curve": "P-256", "days": "365"}


@pytest.mark.parametrize("name", ["JWT\r\nKeystore", "JWT\x0bKeystore", "JWT\u202eKeystore", "JWT\x00Keystore"])
def test_a_keystore_name_with_a_control_character_is_refused_beside_the_name(
    console: Client, organization: Organization, name: str
) -> None:
    data = {"organization": organization.pk, "name": name, **GENERATE}
    response = console.post(reverse("admin:keyprofiles_keystore_generate"), data)
    assert response.status_code == 200
    row = form_row(response.content.decode(), "name")
    assert "Control characters are not allowed here" in row or "Null characters are not allowed" in row
    assert not Keystore.objects.exists()


def test_a_keystore_name_with_accents_and_quotes_is_accepted(console: Client, organization: Organization) -> None:
    data = {"organization": organization.pk, "name": 'Clé "JWT" été', **GENERATE}
    response = console.post(reverse("admin:keyprofiles_keystore_generate"), data)
    assert response.status_code == 302
    assert Keystore.objects.get().name == 'Clé "JWT" été'


def test_the_import_service_refuses_a_control_character_in_the_name_and_stores_nothing(
    organization: Organization, actor: Actor
) -> None:
    with pytest.raises(ValidationError) as raised:
        services.keystore_import(
            organization=organization,
            name="JWT\nKeystore",
            certificate=fx.CERT1_PEM.encode(),
            private_key=fx.KEY1_PEM.encode(),
            actor=actor,
        )
    assert raised.value.message_dict == {
        "name": ["Control characters are not allowed here (found U+000A at position 4)."]
    }
    assert not Keystore.objects.exists()


# Error pages of requests that carry key material (issue 9, finding 5 as seen in the console)


def boom(**kwargs: Any) -> Any:
    raise RuntimeError("a bug below the console view")


def test_a_crash_in_the_upload_view_shows_neither_the_key_nor_the_passphrase(
    console: Client, organization: Organization, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DEBUG = True
    monkeypatch.setattr(services, "keystore_import", boom)
    console.raise_request_exception = False
    files = {"certificate": upload("c.pem", fx.CERT1_PEM), "private_key": upload("k.pem", fx.KEY1_ENCRYPTED_PEM)}
    response = post_upload(console, organization, password=fx.KEY1_PASSPHRASE.decode(), **files)
    page = response.content.decode()
    assert response.status_code == 500
    assert "a bug below the console view" in page  # the debug page, with its traceback
    assert "BEGIN ENCRYPTED PRIVATE KEY" not in page
    assert "correct horse" not in page


def test_a_crash_in_a_view_without_secrets_still_shows_its_variables(
    console: Client, organization: Organization, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DEBUG = True
    monkeypatch.setattr(services, "truststore_import", boom)
    console.raise_request_exception = False
    response = console.post(
        reverse("admin:keyprofiles_truststore_add"),
        {"organization": organization.pk, "name": "Partners", "certificate": upload("c.pem", fx.CERT1_PEM)},
    )
    page = response.content.decode()
    assert response.status_code == 500
    assert "BEGIN CERTIFICATE" in page  # the uploaded bytes, as a frame variable
