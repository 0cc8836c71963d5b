"""Console forms for key material. They collect input only; services validate and store it."""

from __future__ import annotations

from django import forms

from keyprofiles import keymaterial
from keyprofiles.models import SIGNING_ALGORITHMS, Keystore, Truststore, validate_semver
from portal.console import ServiceForm
from portal.models import Catalog, Organization


def read_upload(upload: object) -> bytes | None:
    """The bytes of an uploaded file, reading at most one byte over the limit so the size check can refuse it."""
    if upload is None:
        return None
    assert hasattr(upload, "read")
    data: bytes = upload.read(keymaterial.MAX_UPLOAD_BYTES + 1)
    return data


class KeystoreUploadForm(ServiceForm):
    organization = forms.ModelChoiceField(queryset=Organization.objects.all(), empty_label=None)
    name = forms.CharField(max_length=100, help_text='For example "JWT Keystore".')
    certificate = forms.FileField(
        required=False, help_text="The certificate, PEM or DER. Not needed with a PKCS#12 file."
    )
    private_key = forms.FileField(
        required=False,
        label="Private key",
        help_text="The private key, PEM (optionally passphrase-protected) or DER. Not needed with a PKCS#12 file.",
    )
    chain = forms.FileField(required=False, label="Intermediate certificates", help_text="Up to 10, PEM.")
    pkcs12 = forms.FileField(required=False, label="PKCS#12 file", help_text=".p12 or .pfx with its password.")
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="The PKCS#12 password or the private key's passphrase.",
    )

    def clean(self) -> dict[str, object]:
        # A missing certificate or key is the service's to report, with every other problem of the upload.
        cleaned = super().clean() or {}
        if cleaned.get("pkcs12"):
            for field in ("certificate", "private_key", "chain"):
                if cleaned.get(field):
                    self.add_error(field, "Leave this empty when uploading a PKCS#12 file: it carries its own.")
        return cleaned


class KeystoreGenerateForm(ServiceForm):
    organization = forms.ModelChoiceField(queryset=Organization.objects.all(), empty_label=None)
    name = forms.CharField(max_length=100, help_text='For example "JWT Keystore".')
    common_name = forms.CharField(max_length=64, label="Common Name (CN)", help_text="For example jwt.example.com.")
    key_type = forms.ChoiceField(choices=[("RSA", "RSA"), ("EC", "EC")], initial="RSA", label="Key type")
    bits = forms.TypedChoiceField(
        choices=[(bits, f"{bits} bits") for bits in keymaterial.GENERATE_RSA_BITS],
        coerce=int,
        initial=2048,
        label="RSA key size",
    )
    curve = forms.ChoiceField(choices=[(c, c) for c in keymaterial.CURVES], initial="P-256", label="EC curve")
    days = forms.IntegerField(min_value=1, max_value=3650, initial=365, label="Validity (days)")


class SecretKeystoreForm(ServiceForm):
    organization = forms.ModelChoiceField(queryset=Organization.objects.all(), empty_label=None)
    name = forms.CharField(max_length=100)
    secret = forms.FileField(
        required=False,
        label="Shared secret",
        help_text="At least 32 bytes: raw, base64 or hex. Leave empty to generate 32 random bytes.",
    )


class TruststoreUploadForm(ServiceForm):
    organization = forms.ModelChoiceField(queryset=Organization.objects.all(), empty_label=None)
    name = forms.CharField(max_length=100)
    certificate = forms.FileField(
        label="Certificates", help_text="One or more PEM certificates, or one DER certificate."
    )


class KeyProfileForm(ServiceForm):
    organization = forms.ModelChoiceField(queryset=Organization.objects.all(), empty_label=None)
    title = forms.CharField(max_length=200, help_text='For example "JWT Keyprofile"; its slug becomes the name.')
    version = forms.CharField(max_length=32, initial="1.0.0", validators=[validate_semver])
    keystore = forms.ModelChoiceField(queryset=Keystore.objects.all(), required=False)
    truststore = forms.ModelChoiceField(queryset=Truststore.objects.all(), required=False)
    algorithm = forms.ChoiceField(
        choices=[("", "Fixed by the first API that signs with the key"), *((a, a) for a in SIGNING_ALGORITHMS)],
        required=False,
        label="Signing algorithm",
        help_text="One key, one algorithm: the keystore's key signs only with this, and the JWKS states it.",
    )
    catalogs = forms.ModelMultipleChoiceField(
        queryset=Catalog.objects.select_related("organization"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Enable the profile in these catalogs; this creates its crypto objects there.",
    )

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        if not cleaned.get("keystore") and not cleaned.get("truststore"):
            self.add_error("keystore", "Choose a keystore, a truststore, or both.")
        return cleaned


class EnableForm(ServiceForm):
    catalog = forms.ModelChoiceField(queryset=Catalog.objects.select_related("organization"))
