"""Console forms of portal: creating an API key."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms

from portal.console import ServiceForm
from portal.durations import parse_duration
from portal.models import ApiKey, Organization


class ApiKeyCreateForm(ServiceForm):
    """The fields of ``services.api_key_create``; the key itself is shown once on the next page."""

    organization = forms.ModelChoiceField(queryset=Organization.objects.all())
    name = forms.CharField(max_length=100, help_text="Unique in the organization, e.g. ci-pipeline.")
    role = forms.ChoiceField(
        choices=ApiKey.Role.choices,
        help_text="Operator: everything in the organization. Auditor: read. Signer: sign and validate only.",
    )
    profiles = forms.CharField(
        required=False, help_text="Signer only: comma-separated key profile names it may use (e.g. jwt-keyprofile)."
    )
    allow_iss = forms.CharField(required=False, label="Allowed iss", help_text="Regular expression (whole claim).")
    allow_aud = forms.CharField(required=False, label="Allowed aud", help_text="Regular expression (every value).")
    allow_sub = forms.CharField(required=False, label="Allowed sub", help_text="Regular expression (whole claim).")
    max_expires_in = forms.IntegerField(
        required=False, min_value=1, label="Longest token lifetime (s)", help_text="Signer only; empty: no limit."
    )
    expires_in = forms.CharField(
        required=False, label="Key lifetime", help_text="e.g. 90d or 12h; empty: the key does not expire."
    )

    def clean_profiles(self) -> list[str]:
        return [name.strip() for name in self.cleaned_data["profiles"].split(",") if name.strip()]

    def clean_expires_in(self) -> timedelta | None:
        text = self.cleaned_data["expires_in"]
        if not text:
            return None
        try:
            lifetime = parse_duration(text)
        except ValueError as e:
            raise forms.ValidationError(str(e)) from e
        if not lifetime:
            raise forms.ValidationError("The lifetime must be longer than 0 seconds.")
        return lifetime

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("expires_in")
        return data
