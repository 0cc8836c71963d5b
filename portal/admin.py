"""Console pages for organizations, catalogs and the read-only audit log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from portal import services
from portal.console import DeclaredFiltersOnlyMixin, ServiceFormMixin, ViewOnlyAdminMixin, form_data, receives_secrets
from portal.errors import refusal_text
from portal.forms import ApiKeyCreateForm
from portal.models import ApiKey, AuditEvent, Catalog, Organization
from portal.services import Actor

admin.site.site_header = "Key-profile portal console"
admin.site.site_title = "Key-profile portal"
admin.site.index_title = "Console"
admin.site.site_url = "/"  # "View site": the landing page (portal.views.landing)


@admin.register(Organization)
class OrganizationAdmin(DeclaredFiltersOnlyMixin, admin.ModelAdmin):
    list_display = ("slug", "title", "created_at")
    search_fields = ("slug", "title")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("slug",) if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: Organization, form: ModelForm, change: bool) -> None:
        if change:
            obj.save(update_fields=["title"])
        else:
            created = services.organization_create(slug=obj.slug, title=obj.title, actor=Actor.for_user(request.user))
            obj.pk = created.pk


@admin.register(Catalog)
class CatalogAdmin(DeclaredFiltersOnlyMixin, admin.ModelAdmin):
    list_display = ("slug", "title", "organization", "created_at")
    list_filter = ("organization",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("organization", "slug") if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Catalog | None = None) -> bool:
        if obj is not None and obj.is_sandbox:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Catalog, form: ModelForm, change: bool) -> None:
        if change:
            obj.save(update_fields=["title"])
        else:
            created = services.catalog_create(
                organization=obj.organization,
                slug=obj.slug,
                title=obj.title,
                actor=Actor.for_user(request.user),
            )
            obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: Catalog) -> None:
        services.catalog_delete(catalog=obj, actor=Actor.for_user(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Catalog]) -> None:
        for catalog in queryset:
            try:
                services.catalog_delete(catalog=catalog, actor=Actor.for_user(request.user))
            except ValidationError as e:
                self.message_user(request, refusal_text(e), level="error")


class AuditObjectFilter(admin.SimpleListFilter):
    """Events about one object: ``?object=<app_label.model>:<id>`` (object pages link here)."""

    title = "object"
    parameter_name = "object"
    RECENT_OBJECTS = 30

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        seen: dict[str, str] = {}
        rows = (
            AuditEvent.objects.exclude(object_id="")
            .order_by("-created_at")
            .values_list("object_type", "object_id", "object_repr")
        )
        for object_type, object_id, object_repr in rows[:500]:
            seen.setdefault(f"{object_type}:{object_id}", f"{object_repr} ({object_type})")
            if len(seen) >= self.RECENT_OBJECTS:
                break
        selected = self.value()
        if selected and selected not in seen:
            seen[selected] = selected
        return sorted(seen.items(), key=lambda item: item[1].lower())

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        value = self.value()
        if not value:
            return queryset
        object_type, _, object_id = value.rpartition(":")
        return queryset.filter(object_type=object_type, object_id=object_id)


class AuditUserFilter(admin.AllValuesFieldListFilter):
    """The actor: a user name, or ``cli:<command>`` for management commands."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "user"


# Who may read client ids (tokens.admin.may_read_client_ids; portal names the permission, never imports tokens).
CLIENT_ID_READERS = "tokens.change_consumerapp"
CLIENT_ID_KEYS = frozenset({"client_id", "old_client_id"})


@admin.register(AuditEvent)
class AuditEventAdmin(DeclaredFiltersOnlyMixin, ViewOnlyAdminMixin, admin.ModelAdmin):
    """The audit log: filter by object, user (actor) and action; nobody adds, changes or deletes an event."""

    # Object type and organization are filters, not columns: the list fits a 1280 px window beside them.
    list_display = ("created_at", "actor", "action", "object_repr", "outcome")
    list_filter = (AuditObjectFilter, ("actor", AuditUserFilter), "action", "outcome", "object_type", "organization")
    search_fields = ("actor", "action", "object_repr", "object_id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]
    list_select_related = ("organization",)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> AuditEvent | None:
        """The event, with client ids masked for a user who may not read them (an auditor): app events
        record the client id, which is a credential for a client-id-only API."""
        event = super().get_object(request, object_id, from_field)
        if event is not None and not request.user.has_perm(CLIENT_ID_READERS):
            event.detail = {
                key: f"••••{value[-4:]}" if key in CLIENT_ID_KEYS and isinstance(value, str) else value
                for key, value in event.detail.items()
            }
        return event


@admin.register(ApiKey)
class ApiKeyAdmin(DeclaredFiltersOnlyMixin, ServiceFormMixin, admin.ModelAdmin):
    """API keys: create (the key is shown once), list, expire and revoke. The digest is never shown, searched or
    filtered on: it is not among the fields, filters or search fields."""

    list_display = ("name", "organization", "role", "display_prefix", "key_state", "expires_at", "created_at")
    list_filter = ("organization", "role")
    search_fields = ("name", "display_prefix")
    fields = (
        "organization",
        "name",
        "role",
        "profiles",
        "allow_iss",
        "allow_aud",
        "allow_sub",
        "max_expires_in",
        "display_prefix",
        "key_state",
        "created_at",
        "created_by",
        "expires_at",
        "revoked_at",
    )
    readonly_fields = fields
    actions = ["revoke_selected", "expire_selected"]
    list_select_related = ("organization",)

    @admin.display(description="State")
    def key_state(self, obj: ApiKey) -> str:
        return obj.state

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked keys stay, as the audit trail names them

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        """Revoke and expire (the admin's change form stays closed: a key's facts never change)."""
        return request.user.has_perm("portal.change_apikey")

    @receives_secrets
    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ApiKeyCreateForm(*form_data(request))

        def perform(data: dict[str, Any], actor: Actor) -> HttpResponse:
            lifetime = data["expires_in"]
            key, text = services.api_key_create(
                **form.service_arguments(),
                expires_at=timezone.now() + lifetime if lifetime else None,
                actor=actor,
            )
            context = {**self.admin_site.each_context(request), "opts": self.model._meta, "key": key, "text": text}
            response = TemplateResponse(request, "admin/portal/api_key_created.html", context)
            response["Cache-Control"] = "no-store"
            return response

        return self.run_service_form(
            request,
            form=form,
            title="Create an API key",
            submit_label="Create",
            perform=perform,
            errors=(),
            intro="The key is shown once, on the next page; the portal keeps only a digest of it.",
        )

    @admin.action(description="Revoke the selected API keys", permissions=["revoke"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            services.api_key_revoke(key=key, actor=Actor.for_user(request.user))
        self.message_user(request, f"Revoked {len(queryset)} API key(s); every process refuses them within seconds.")

    @admin.action(description="Expire the selected API keys now", permissions=["revoke"])
    def expire_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            services.api_key_expire(key=key, actor=Actor.for_user(request.user))
        self.message_user(request, f"Expired {len(queryset)} API key(s).")
