"""The console's Rotate action on a key profile.

Rotation moves published APIs, which is the token side's work, so the action lives here: this module
re-registers the key-profile admin with a Rotate page (``tokens.apps`` loads it once the admin has been
discovered).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from keyprofiles import keymaterial
from keyprofiles.admin import KeyProfileAdmin
from keyprofiles.forms import read_upload
from keyprofiles.models import KeyProfile, Keystore
from portal.background import run_later
from portal.console import ServiceForm, form_data, receives_secrets
from portal.durations import parse_duration
from portal.models import Catalog
from portal.services import Actor
from tokens.rotation import KeySource, RotationPlan, keyprofile_rotate, lifecycle_tick


class RotateForm(ServiceForm):
    catalog = forms.ModelChoiceField(queryset=Catalog.objects.none(), empty_label=None)
    source = forms.ChoiceField(
        choices=[("generate", "Generate a key like the current one"), ("keystore", "Use an existing keystore"),
                 ("upload", "Upload a certificate and key")],
        initial="generate",
        widget=forms.RadioSelect,
        label="New key",
    )  # fmt: skip
    bits = forms.TypedChoiceField(
        choices=[("", "Same as now"), *((b, f"RSA {b}") for b in keymaterial.GENERATE_RSA_BITS)],
        coerce=int,
        empty_value=None,
        required=False,
        label="RSA key size",
    )
    keystore = forms.ModelChoiceField(queryset=Keystore.objects.none(), required=False)
    certificate = forms.FileField(required=False)
    private_key = forms.FileField(required=False, label="Private key")
    password = forms.CharField(required=False, widget=forms.PasswordInput, help_text="The key's passphrase, if any.")
    profile_version = forms.CharField(required=False, label="New version", help_text="Default: the next patch version.")
    grace = forms.CharField(
        required=False,
        help_text="How long the old key keeps verifying, e.g. 2h. Default and minimum: the longest token validity.",
    )
    prepublish = forms.CharField(required=False, help_text="Publish the new key in the JWKS this long before it signs.")
    dry_run = forms.BooleanField(required=False, label="Dry run (show the plan, change nothing)")

    def __init__(self, *args: Any, profile: KeyProfile, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        catalogs = Catalog.objects.filter(keyprofile_bindings__profile=profile).distinct()
        self.fields["catalog"].queryset = catalogs  # type: ignore[attr-defined]
        self.fields["keystore"].queryset = Keystore.objects.filter(  # type: ignore[attr-defined]
            organization=profile.organization
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in ("grace", "prepublish"):
            if cleaned.get(name):
                try:
                    cleaned[name] = parse_duration(cleaned[name])
                except ValueError as e:
                    self.add_error(name, str(e))
            else:
                cleaned[name] = None
        if cleaned.get("source") == "keystore" and not cleaned.get("keystore"):
            self.add_error("keystore", "Choose the keystore to rotate to.")
        if cleaned.get("source") == "upload":
            for name in ("certificate", "private_key"):
                if not cleaned.get(name):
                    self.add_error(name, "Upload both the certificate and its private key.")
        return cleaned

    def key_source(self) -> KeySource:
        data = self.cleaned_data
        if data["source"] == "keystore":
            return KeySource(keystore=data["keystore"])
        if data["source"] == "upload":
            password = data.get("password")
            return KeySource(
                certificate=read_upload(data["certificate"]),
                private_key=read_upload(data["private_key"]),
                password=password.encode() if password else None,
            )
        return KeySource(bits=data.get("bits"))


class KeyProfileRotationAdmin(KeyProfileAdmin):
    change_form_template = "admin/keyprofiles/keyprofile_change_form.html"

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:pk>/rotate/", self.admin_site.admin_view(self.rotate_view), name="keyprofiles_keyprofile_rotate"
            ),
            *super().get_urls(),
        ]

    def has_rotate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("keyprofiles.add_keyprofile")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {**(extra_context or {}), "has_rotate_permission": self.has_rotate_permission(request)}
        return super().change_view(request, object_id, form_url, extra)

    @receives_secrets
    def rotate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        profile = get_object_or_404(KeyProfile, pk=pk)
        if not self.has_rotate_permission(request):
            raise PermissionDenied
        form = RotateForm(*form_data(request), profile=profile)

        def perform(data: dict[str, Any], actor: Actor) -> HttpResponse:
            plan = keyprofile_rotate(
                catalog=data["catalog"],
                name=profile.name,
                source=form.key_source(),
                new_version=data.get("profile_version") or None,
                grace=data["grace"],
                prepublish=data["prepublish"],
                dry_run=bool(data.get("dry_run")),
                wait=False,  # the propagation wait is a background step's, not the request's
                actor=actor,
            )
            if not plan.dry_run and not plan.prepublish:
                activate_when_due(plan, actor=actor)
            verb = "Would rotate" if plan.dry_run else "Rotated"
            moved = ", ".join(plan.apis) or "no API"
            messages.success(
                request,
                f"{verb} {plan.profile} in {plan.catalog}: {plan.old_version} to {plan.new_version}; signs from "
                f"{plan.activates_at:%Y-%m-%d %H:%M:%S} UTC; the old version retires at "
                f"{plan.grace_ends_at:%Y-%m-%d %H:%M:%S} UTC; moves {moved} when it signs.",
            )
            target = profile
            if not plan.dry_run:
                target = KeyProfile.objects.get(
                    organization=profile.organization, name=profile.name, version=plan.new_version
                )
            return HttpResponseRedirect(reverse("admin:keyprofiles_keyprofile_change", args=[target.pk]))

        return self.run_service_form(
            request,
            form=form,
            title=f"Rotate {profile}",
            submit_label="Rotate",
            perform=perform,
            intro="A new key and profile version; APIs signing with this version move to it and are republished; "
            "this version keeps verifying for the grace period, then retire_keys retires it.",
        )


def activate_when_due(plan: RotationPlan, *, actor: Actor) -> None:
    """Activate the rotated version in the background once every process verifies with it (at
    ``plan.activates_at``), so the console answers at once; ``retire_keys`` does it if this process cannot."""
    seconds = (plan.activates_at - timezone.now()).total_seconds()
    run_later(seconds=seconds, work=lambda: lifecycle_tick(actor=actor), name=f"activate-{plan.profile}")


def install() -> None:
    """Swap the key-profile admin for the one with the Rotate page (called from TokensConfig.ready)."""
    if admin.site.is_registered(KeyProfile):
        admin.site.unregister(KeyProfile)
    admin.site.register(KeyProfile, KeyProfileRotationAdmin)
