"""The key-material console: upload and generate keystores, truststores, key profiles and crypto objects.

Admin classes stay thin: forms collect input, services validate and store it, and errors are shown beside
the field at fault. Sealed key material is never a field of any admin page.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from keyprofiles import keymaterial, selectors, services
from keyprofiles.conf import keyprofiles_settings
from keyprofiles.forms import (
    EnableForm,
    KeyProfileForm,
    KeystoreGenerateForm,
    KeystoreUploadForm,
    SecretKeystoreForm,
    TruststoreUploadForm,
    read_upload,
)
from keyprofiles.models import (
    CertificateFacts,
    CryptoObject,
    KeyProfile,
    KeyProfileBinding,
    Keystore,
    TrustedCertificate,
    Truststore,
)
from portal.console import (
    DeclaredFiltersOnlyMixin,
    ServiceFormMixin,
    ViewOnlyAdminMixin,
    attachment_header,
    form_data,
    receives_secrets,
)
from portal.errors import REFUSALS
from portal.services import Actor

CERTIFICATE_FACTS = (
    "fingerprint_sha256",
    "subject",
    "issuer",
    "serial_number",
    "key_type",
    "key_size",
    "not_before",
    "not_after",
)


def expiry_badge(certificate: CertificateFacts) -> str:
    """Days to expiry, red within the warning window and amber within the notice window."""
    days = certificate.days_to_expiry()
    if days is None:
        return "-"
    if days < 0:
        return format_html('<strong class="expiry-text-red">expired {} days ago</strong>', -days)
    if days <= keyprofiles_settings.EXPIRY_WARNING_DAYS:
        return format_html('<strong class="expiry-text-red">{} days</strong>', days)
    if days <= keyprofiles_settings.EXPIRY_NOTICE_DAYS:
        return format_html('<strong class="expiry-text-amber">{} days</strong>', days)
    return f"{days} days"


class ReadOnlyAfterCreateAdmin(DeclaredFiltersOnlyMixin, admin.ModelAdmin):
    """Objects made by services are never edited in place: the change page is read-only."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Keystore)
class KeystoreAdmin(ServiceFormMixin, ReadOnlyAfterCreateAdmin):
    list_display = ("name", "organization", "kind", "key_description", "subject", "expiry", "catalogs")
    list_filter = ("organization", "kind", "key_type", "source")
    search_fields = ("name", "subject", "fingerprint_sha256")
    # Sealed fields are deliberately absent: not even the ciphertext is shown.
    fields = (
        "name",
        "organization",
        "kind",
        "source",
        "curve",
        *CERTIFICATE_FACTS,
        "expiry",
        "catalogs",
        "chain_length",
        "downloads",
        "created_at",
    )
    readonly_fields = fields
    change_list_template = "admin/keyprofiles/keystore_change_list.html"

    @admin.display(description="Key")
    def key_description(self, obj: Keystore) -> str:
        return f"{obj.key_type} {obj.key_size}" + (f" {obj.curve}" if obj.curve else "")

    @admin.display(description="Expires in")
    def expiry(self, obj: Keystore) -> str:
        return expiry_badge(obj)

    @admin.display(description="Enabled in")
    def catalogs(self, obj: Keystore) -> str:
        # One catalog a line: the column stays narrow enough for the list to fit at 1280 px.
        return (
            format_html_join(mark_safe("<br>"), "{}", ((name,) for name in selectors.certificate_catalogs(obj))) or "-"
        )

    @admin.display(description="Downloads")
    def downloads(self, obj: Keystore) -> str:
        if obj.kind != Keystore.Kind.KEY_PAIR:
            return "-"
        return format_html(
            '<a href="{}">Certificate (PEM)</a> · <a href="{}">Public JWK</a>',
            reverse("admin:keyprofiles_keystore_certificate", args=[obj.pk]),
            reverse("admin:keyprofiles_keystore_jwk", args=[obj.pk]),
        )

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("generate/", wrap(self.generate_view), name="keyprofiles_keystore_generate"),
            path("secret/", wrap(self.secret_view), name="keyprofiles_keystore_secret"),
            path(
                "<int:pk>/certificate.pem",
                wrap(self.certificate_view),
                name="keyprofiles_keystore_certificate",
            ),
            path("<int:pk>/jwk.json", wrap(self.jwk_view), name="keyprofiles_keystore_jwk"),
            *super().get_urls(),
        ]

    @receives_secrets
    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied

        def perform(data: dict[str, Any], actor: Actor) -> Keystore:
            password = data.get("password")
            upload = {
                "organization": data["organization"],
                "name": data["name"],
                "certificate": read_upload(data.get("certificate")),
                "private_key": read_upload(data.get("private_key")),
                "chain": read_upload(data.get("chain")),
                "pkcs12": read_upload(data.get("pkcs12")),
                "password": password.encode() if password else None,
            }
            try:
                return services.keystore_import(**upload, actor=actor)
            except REFUSALS as refused:
                # Every problem at once, not only the first the import met.
                raise (services.keystore_import_problems(**upload) or refused) from None

        return self.run_service_form(
            request,
            form=KeystoreUploadForm(*form_data(request)),
            title="Upload a keystore",
            submit_label="Upload",
            perform=perform,
            intro="A certificate and its private key (PEM or DER), or one PKCS#12 file with its password.",
        )

    @receives_secrets
    def generate_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied

        def perform(data: dict[str, Any], actor: Actor) -> Keystore:
            return services.keystore_generate(
                organization=data["organization"],
                name=data["name"],
                common_name=data["common_name"],
                key_type=data["key_type"],
                bits=data["bits"],
                curve=data["curve"],
                days=data["days"],
                actor=actor,
            )

        return self.run_service_form(
            request,
            form=KeystoreGenerateForm(*form_data(request)),
            title="Generate a keystore",
            submit_label="Generate",
            perform=perform,
            intro="A new key and a self-signed SHA-256 certificate for the Common Name, as DataPower's crypto tool "
            "makes them.",
        )

    @receives_secrets
    def secret_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied

        def perform(data: dict[str, Any], actor: Actor) -> Keystore:
            return services.keystore_secret_create(
                organization=data["organization"],
                name=data["name"],
                secret=read_upload(data.get("secret")),
                actor=actor,
            )

        return self.run_service_form(
            request,
            form=SecretKeystoreForm(*form_data(request)),
            title="Add a shared secret",
            submit_label="Save",
            perform=perform,
            intro="A shared secret signs and verifies HS256/384/512 tokens. It is sealed at rest and never shown.",
        )

    def _key_pair(self, request: HttpRequest, pk: int) -> Keystore:
        keystore = get_object_or_404(Keystore, pk=pk, kind=Keystore.Kind.KEY_PAIR)
        if not self.has_view_permission(request, keystore):
            raise PermissionDenied
        return keystore

    def certificate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        keystore = self._key_pair(request, pk)
        response = HttpResponse(keystore.certificate_pem + keystore.chain_pem, content_type="application/x-pem-file")
        response["Content-Disposition"] = attachment_header(f"{keystore.name}.pem")
        return response

    def jwk_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        keystore = self._key_pair(request, pk)
        jwk = {
            **keymaterial.certificate_jwk(keystore.certificate_pem),
            "x5c": [keymaterial.certificate_der_b64(keystore.certificate_pem)],
        }
        response = HttpResponse(json.dumps(jwk, indent=2), content_type="application/jwk+json")
        response["Content-Disposition"] = attachment_header(f"{keystore.name}.jwk.json")
        return response

    def delete_model(self, request: HttpRequest, obj: Keystore) -> None:
        services.keystore_delete(keystore=obj, actor=Actor.for_user(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Keystore]) -> None:
        for keystore in queryset:
            services.keystore_delete(keystore=keystore, actor=Actor.for_user(request.user))


class TrustedCertificateInline(admin.TabularInline):
    model = TrustedCertificate
    fields = (
        "position",
        "subject",
        "issuer",
        "fingerprint_sha256",
        "key_type",
        "key_size",
        "not_before",
        "not_after",
        "expiry",
        "catalogs",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="Expires in")
    def expiry(self, obj: TrustedCertificate) -> str:
        return expiry_badge(obj)

    @admin.display(description="Enabled in")
    def catalogs(self, obj: TrustedCertificate) -> str:
        return ", ".join(selectors.certificate_catalogs(obj)) or "-"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Truststore)
class TruststoreAdmin(ServiceFormMixin, ReadOnlyAfterCreateAdmin):
    list_display = ("name", "organization", "certificate_count", "created_at")
    list_filter = ("organization",)
    fields = ("name", "organization", "created_at")
    readonly_fields = fields
    inlines = [TrustedCertificateInline]

    @admin.display(description="Certificates")
    def certificate_count(self, obj: Truststore) -> int:
        return obj.certificates.count()

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied

        def perform(data: dict[str, Any], actor: Actor) -> Truststore:
            return services.truststore_import(
                organization=data["organization"],
                name=data["name"],
                data=read_upload(data["certificate"]) or b"",
                actor=actor,
            )

        return self.run_service_form(
            request,
            form=TruststoreUploadForm(*form_data(request)),
            title="Upload a truststore",
            submit_label="Upload",
            perform=perform,
        )


class CryptoObjectInline(admin.TabularInline):
    model = CryptoObject
    fields = ("copyable_name", "role")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Crypto objects"

    @admin.display(description="Name")
    def copyable_name(self, obj: CryptoObject) -> str:
        return format_html('<code class="crypto-object-name">{}</code>', obj.name)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(KeyProfile)
class KeyProfileAdmin(ServiceFormMixin, ReadOnlyAfterCreateAdmin):
    list_display = ("title", "name", "version", "organization", "keystore", "truststore", "crypto_objects")
    list_filter = ("organization",)
    search_fields = ("title", "name")
    fields = (
        "title",
        "name",
        "version",
        "organization",
        "keystore",
        "truststore",
        "crypto_objects",
        "versions",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="Versions")
    def versions(self, obj: KeyProfile) -> str:
        """Every version of this profile with its state in each catalog (the rotation life cycle)."""
        rows = [
            (
                binding.profile.version,
                str(binding.catalog),
                binding.get_state_display(),
                f"{binding.activates_at:%Y-%m-%d %H:%M} UTC" if binding.activates_at else "-",
                f"{binding.grace_ends_at:%Y-%m-%d %H:%M} UTC" if binding.grace_ends_at else "-",
                "yes" if binding.in_jwks else "no",
            )
            for binding in KeyProfileBinding.objects.filter(
                profile__organization=obj.organization, profile__name=obj.name
            )
            .select_related("profile", "catalog__organization")
            .order_by("-profile__created_at", "catalog__slug")
        ]
        if not rows:
            return "Not enabled in any catalog."
        header = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            "Version", "Catalog", "State", "Signs from", "Grace ends", "In JWKS",
        )  # fmt: skip
        body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
        return format_html('<table class="profile-versions">{}{}</table>', header, body)

    @admin.display(description="Crypto objects")
    def crypto_objects(self, obj: KeyProfile) -> str:
        names = CryptoObject.objects.filter(binding__profile=obj).values_list("name", flat=True)
        return (
            format_html_join(mark_safe("<br>"), '<code class="crypto-object-name">{}</code>', ((n,) for n in names))
            or "-"
        )

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/enable/", wrap(self.enable_view), name="keyprofiles_keyprofile_enable"),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied

        def perform(data: dict[str, Any], actor: Actor) -> KeyProfile:
            return services.keyprofile_create(
                organization=data["organization"],
                title=data["title"],
                version=data["version"],
                keystore=data.get("keystore"),
                truststore=data.get("truststore"),
                catalogs=data.get("catalogs") or (),
                algorithm=data.get("algorithm") or "",
                actor=actor,
            )

        return self.run_service_form(
            request,
            form=KeyProfileForm(*form_data(request)),
            title="Create a key profile",
            submit_label="Create",
            perform=perform,
            intro="A versioned TLS client profile. Enabling it in a catalog creates its crypto objects there.",
        )

    def enable_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        profile = get_object_or_404(KeyProfile, pk=pk)
        if not self.has_add_permission(request):
            raise PermissionDenied

        def perform(data: dict[str, Any], actor: Actor) -> KeyProfile:
            services.keyprofile_enable(profile=profile, catalog=data["catalog"], actor=actor)
            return profile

        return self.run_service_form(
            request,
            form=EnableForm(*form_data(request)),
            title=f"Enable {profile} in a catalog",
            submit_label="Enable",
            perform=perform,
        )


@admin.register(CryptoObject)
class CryptoObjectAdmin(DeclaredFiltersOnlyMixin, ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("copyable_name", "role", "catalog", "profile", "subject", "fingerprint", "expiry")
    list_filter = ("role", "binding__catalog__organization", "binding__catalog")
    search_fields = ("name",)
    fields = ("copyable_name", "role", "catalog", "profile", "subject", "fingerprint", "expiry")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[CryptoObject]:
        return selectors.crypto_object_list()

    @admin.display(description="Name", ordering="name")
    def copyable_name(self, obj: CryptoObject) -> str:
        return format_html('<code class="crypto-object-name">{}</code>', obj.name)

    @admin.display(description="Catalog")
    def catalog(self, obj: CryptoObject) -> str:
        # A line may break after the slash, so the list fits at 1280 px.
        catalog = obj.binding.catalog
        return format_html("{}/<wbr>{}", catalog.organization.slug, catalog.slug)

    @admin.display(description="Key profile")
    def profile(self, obj: CryptoObject) -> str:
        return str(obj.binding.profile)

    @admin.display(description="Subject")
    def subject(self, obj: CryptoObject) -> str:
        return obj.certificate.subject if obj.certificate else "-"

    @admin.display(description="SHA-256 fingerprint")
    def fingerprint(self, obj: CryptoObject) -> str:
        return obj.certificate.fingerprint_sha256 if obj.certificate else "-"

    @admin.display(description="Expires in")
    def expiry(self, obj: CryptoObject) -> str:
        return expiry_badge(obj.certificate) if obj.certificate else "-"
