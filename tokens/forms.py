"""Console forms for APIs, publications and consumer apps. They collect input; services do the work."""

from __future__ import annotations

from django import forms

from portal.console import ServiceForm
from portal.models import Catalog, Organization
from tokens.documents import MAX_DOCUMENT_BYTES


class ApiUploadForm(ServiceForm):
    organization = forms.ModelChoiceField(queryset=Organization.objects.all(), empty_label=None)
    document = forms.FileField(
        label="OpenAPI document",
        help_text="OpenAPI 2.0 or 3.0 with x-ibm-configuration, YAML or JSON (at most 1 MiB). "
        "An existing version of the same name is updated.",
    )

    def document_bytes(self) -> bytes:
        data: bytes = self.cleaned_data["document"].read(MAX_DOCUMENT_BYTES + 1)
        return data


class PublishForm(ServiceForm):
    catalog = forms.ModelChoiceField(queryset=Catalog.objects.none(), empty_label=None)

    def __init__(self, *args: object, organization: Organization, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["catalog"].queryset = Catalog.objects.filter(organization=organization)  # type: ignore[attr-defined]


class ConsumerAppForm(ServiceForm):
    catalog = forms.ModelChoiceField(queryset=Catalog.objects.select_related("organization"), empty_label=None)
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=300, required=False)
    with_secret = forms.BooleanField(
        required=False, label="Generate a client secret", help_text="Shown once after saving; only its hash is kept."
    )
