"""The token-API console: APIs (upload, download, publish), publications and consumer apps."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from portal.console import ServiceFormMixin, form_data
from portal.services import Actor
from tokens import services
from tokens.documents import document_dump
from tokens.errors import DocumentError, PolicyConfigError, PublishError
from tokens.forms import ApiUploadForm, ConsumerAppForm, PublishForm
from tokens.models import Api, ConsumerApp, Publication
from tokens.postman import postman_collection

PUBLISH_ERRORS = (DocumentError, PolicyConfigError, PublishError)


def gateway_base_url(request: HttpRequest, publication: Publication) -> str:
    organization = publication.catalog.organization.slug
    return request.build_absolute_uri(f"/{organization}/{publication.catalog.slug}{publication.base_path}")


@admin.register(Api)
class ApiAdmin(ServiceFormMixin, admin.ModelAdmin):
    list_display = ("title", "name", "version", "base_path", "organization", "published_in")
    list_filter = ("organization",)
    search_fields = ("title", "name", "base_path")
    fields = ("title", "name", "version", "base_path", "openapi_version", "organization", "document_yaml", "updated_at")
    readonly_fields = fields
    change_form_template = "admin/tokens/api_change_form.html"

    @admin.display(description="Published in")
    def published_in(self, obj: Api) -> str:
        return ", ".join(f"{p.catalog.slug} ({p.state})" for p in obj.publications.select_related("catalog")) or "-"

    @admin.display(description="Document (YAML)")
    def document_yaml(self, obj: Api) -> str:
        return format_html('<pre class="api-document">{}</pre>', document_dump(obj.document, fmt="yaml"))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/export.<str:fmt>", wrap(self.export_view), name="tokens_api_export"),
            path("<int:pk>/publish/", wrap(self.publish_view), name="tokens_api_publish"),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ApiUploadForm(*form_data(request))

        def perform(data: dict[str, Any], actor: Actor) -> Api:
            api, _ = services.api_import(organization=data["organization"], data=form.document_bytes(), actor=actor)
            return api

        return self.run_service_form(
            request,
            form=form,
            title="Import an API",
            submit_label="Import",
            perform=perform,
            errors=(DocumentError,),
            intro="Upload an API Connect style OpenAPI document (YAML or JSON).",
        )

    def export_view(self, request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
        api = get_object_or_404(Api, pk=pk)
        if fmt not in ("yaml", "json") or not self.has_view_permission(request, api):
            raise Http404 if fmt not in ("yaml", "json") else PermissionDenied
        content_type = "application/yaml" if fmt == "yaml" else "application/json"
        response = HttpResponse(document_dump(api.document, fmt=fmt), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{api.name}_{api.version}.{fmt}"'
        return response

    def publish_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        api = get_object_or_404(Api, pk=pk)
        if not request.user.has_perm("tokens.add_publication"):
            raise PermissionDenied
        form = PublishForm(*form_data(request), organization=api.organization)

        def perform(data: dict[str, Any], actor: Actor) -> Publication:
            return services.api_publish(api=api, catalog=data["catalog"], actor=actor)

        return self.run_service_form(
            request,
            form=form,
            title=f"Publish {api}",
            submit_label="Publish",
            perform=perform,
            errors=PUBLISH_ERRORS,
            intro="Publishing checks every policy first; a refused one is named and nothing changes.",
        )


@admin.register(Publication)
class PublicationAdmin(admin.ModelAdmin):
    list_display = ("api", "catalog", "state", "base_path", "revision", "published_at", "subscriber_count")
    list_filter = ("state", "catalog__organization", "catalog")
    fields = ("api", "catalog", "state", "base_path", "revision", "published_at", "gateway", "downloads")
    readonly_fields = fields
    actions = ["deprecate", "retire", "reinstate"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Publication]:
        return super().get_queryset(request).select_related("api", "catalog__organization")

    @admin.display(description="Subscribers")
    def subscriber_count(self, obj: Publication) -> int:
        return obj.subscribers.count()

    @admin.display(description="Gateway URL")
    def gateway(self, obj: Publication) -> str:
        return f"/{obj.catalog.organization.slug}/{obj.catalog.slug}{obj.base_path}"

    @admin.display(description="Downloads")
    def downloads(self, obj: Publication) -> str:
        return format_html(
            '<a href="{}">Postman collection (v2.1)</a>', reverse("admin:tokens_publication_postman", args=[obj.pk])
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not request.user.has_perm("tokens.change_publication"):
            return {}
        return actions

    def _set_state(self, request: HttpRequest, queryset: QuerySet[Publication], state: str) -> None:
        for publication in queryset:
            try:
                services.publication_set_state(publication=publication, state=state, actor=Actor.for_user(request.user))
            except PublishError as e:
                self.message_user(request, str(e), level=messages.ERROR)
            else:
                self.message_user(request, f"{publication.api} in {publication.catalog} is {state}.")

    @admin.action(description="Deprecate selected publications")
    def deprecate(self, request: HttpRequest, queryset: QuerySet[Publication]) -> None:
        self._set_state(request, queryset, Publication.State.DEPRECATED)

    @admin.action(description="Retire selected publications")
    def retire(self, request: HttpRequest, queryset: QuerySet[Publication]) -> None:
        self._set_state(request, queryset, Publication.State.RETIRED)

    @admin.action(description="Reinstate selected (deprecated) publications")
    def reinstate(self, request: HttpRequest, queryset: QuerySet[Publication]) -> None:
        self._set_state(request, queryset, Publication.State.PUBLISHED)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/postman.json", wrap(self.postman_view), name="tokens_publication_postman"),
            *super().get_urls(),
        ]

    def postman_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        publication = get_object_or_404(Publication.objects.select_related("api", "catalog__organization"), pk=pk)
        if not self.has_view_permission(request, publication):
            raise PermissionDenied
        app = publication.subscribers.order_by("created_at").first()
        collection = postman_collection(
            document=publication.document,
            gateway_url=gateway_base_url(request, publication),
            client_id=app.client_id if app else "",
        )
        response = HttpResponse(json.dumps(collection, indent=2), content_type="application/json")
        filename = f"{publication.api.name}_{publication.api.version}.postman_collection.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


@admin.register(ConsumerApp)
class ConsumerAppAdmin(ServiceFormMixin, admin.ModelAdmin):
    list_display = ("name", "catalog", "client_id", "has_secret", "subscription_list", "created_at")
    list_filter = ("catalog__organization", "catalog")
    search_fields = ("name", "client_id")
    fields = ("name", "catalog", "description", "client_id", "has_secret", "subscription_list", "created_at")
    readonly_fields = fields
    change_form_template = "admin/tokens/app_change_form.html"

    @admin.display(description="Client secret", boolean=True)
    def has_secret(self, obj: ConsumerApp) -> bool:
        return obj.has_secret

    @admin.display(description="Subscriptions")
    def subscription_list(self, obj: ConsumerApp) -> str:
        return format_html_join(", ", "{}", ((str(p.api),) for p in obj.subscriptions.select_related("api"))) or "-"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {**(extra_context or {}), "has_reset_permission": request.user.has_perm("tokens.change_consumerapp")}
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/reset-secret/",
                wrap(require_POST(self.reset_secret_view)),
                name="tokens_consumerapp_reset_secret",
            ),
            *super().get_urls(),
        ]

    def _credentials_page(self, request: HttpRequest, app: ConsumerApp, secret: str | None) -> HttpResponse:
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "app": app, "secret": secret}
        response = TemplateResponse(request, "admin/tokens/credentials.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied

        def perform(data: dict[str, Any], actor: Actor) -> HttpResponse:
            app, secret = services.app_create(
                catalog=data["catalog"],
                name=data["name"],
                description=data.get("description") or "",
                with_secret=bool(data.get("with_secret")),
                actor=actor,
            )
            for publication in Publication.objects.filter(catalog=app.catalog).exclude(state=Publication.State.RETIRED):
                services.app_subscribe(app=app, publication=publication, actor=actor)
            return self._credentials_page(request, app, secret)

        return self.run_service_form(
            request,
            form=ConsumerAppForm(*form_data(request)),
            title="Create a consumer app",
            submit_label="Create",
            perform=perform,
            errors=(),
            intro="The app gets a client id and is subscribed to every API served in its catalog.",
        )

    def reset_secret_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        app = get_object_or_404(ConsumerApp, pk=pk)
        if not request.user.has_perm("tokens.change_consumerapp"):
            raise PermissionDenied
        secret = services.app_reset_secret(app=app, actor=Actor.for_user(request.user))
        return self._credentials_page(request, app, secret)
