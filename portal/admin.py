"""Console pages for organizations, catalogs and the read-only audit log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from portal import services
from portal.models import AuditEvent, Catalog, Organization
from portal.services import Actor


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


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "object_type", "object_repr", "organization", "outcome")
    list_filter = ("action", "outcome", "object_type", "organization", "actor")
    search_fields = ("actor", "action", "object_repr", "object_id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
