"""Console pages for organizations, catalogs and the read-only audit log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from portal import services
from portal.console import ViewOnlyAdminMixin
from portal.models import AuditEvent, Catalog, Organization
from portal.services import Actor

admin.site.site_header = "Key-profile portal console"
admin.site.site_title = "Key-profile portal"
admin.site.index_title = "Console"
admin.site.site_url = "/"  # "View site": the landing page (portal.views.landing)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
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
class CatalogAdmin(admin.ModelAdmin):
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
                self.message_user(request, "; ".join(e.messages), level="error")


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


@admin.register(AuditEvent)
class AuditEventAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
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
