"""API property values per catalog: what an operator sets without a new document version (DESIGN.md 3a).

Values may hold a backend's credentials: the list shows names only, a value's page shows it to operators only
(those who may set values), and the audit log never holds it.
Setting and clearing go through ``tokens.properties`` (audited; every gateway process follows within seconds).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from portal.console import DeclaredFiltersOnlyMixin, ServiceForm, ServiceFormMixin, require_permissions
from portal.models import Catalog
from portal.services import Actor
from tokens.models import Api, ApiPropertyValue
from tokens.properties import api_property_clear, api_property_set


class ApiPropertyValueForm(ServiceForm):
    api = forms.ModelChoiceField(queryset=Api.objects.select_related("organization"), label="API")
    catalog = forms.ModelChoiceField(queryset=Catalog.objects.select_related("organization"))
    name = forms.CharField(max_length=100, help_text="The property, as the assembly reads it: $(target-url).")
    value = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        help_text="Its value in that catalog, over the document's. May read variables: $(request.parameters.x).",
    )


@admin.register(ApiPropertyValue)
class ApiPropertyValueAdmin(DeclaredFiltersOnlyMixin, ServiceFormMixin, admin.ModelAdmin):
    list_display = ("name", "api", "catalog", "updated_at")
    list_filter = ("catalog",)
    search_fields = ("name", "api__name")
    fields = ("api", "catalog", "name", "value", "updated_at")
    readonly_fields = fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a value is set again through the add form (set replaces)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A value may be a backend's credential: only those who may set values (operators) read them; an
        # auditor's page names the property, as the list does.
        if request.user.has_perm("tokens.add_apipropertyvalue"):
            return self.fields
        return tuple(name for name in self.fields if name != "value")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_fields(request, obj)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        require_permissions(request, "tokens.add_apipropertyvalue")
        form = ApiPropertyValueForm(request.POST if request.method == "POST" else None)

        def perform(data: dict[str, Any], actor: Actor) -> ApiPropertyValue:
            return api_property_set(
                api=data["api"], catalog=data["catalog"], name=data["name"], value=data["value"], actor=actor
            )

        return self.run_service_form(
            request,
            form=form,
            title="Set an API property in a catalog",
            submit_label="Set",
            perform=perform,
            errors=(),
            intro="Overrides the document's value (x-ibm-configuration.properties) for one catalog.",
        )

    def delete_model(self, request: HttpRequest, obj: ApiPropertyValue) -> None:
        api_property_clear(api=obj.api, catalog=obj.catalog, name=obj.name, actor=Actor.for_user(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ApiPropertyValue]) -> None:
        for value in queryset.select_related("api", "catalog"):
            self.delete_model(request, value)
