"""The API pages: create, import, export, the API page with its assembly editor, and publishing."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from portal.console import (
    DeclaredFiltersOnlyMixin,
    ServiceFormMixin,
    attachment_header,
    form_data,
    require_permissions,
)
from portal.errors import REFUSALS
from portal.services import Actor
from tokens import editor, services, viewmodels
from tokens.admin.assembly_editor import AssemblyEditorMixin
from tokens.documents import document_describe, document_dump
from tokens.errors import DocumentError, PublishError
from tokens.forms import (
    ApiCreateForm,
    ApiUploadForm,
    CatchAddForm,
    OperationFormSet,
    PolicyAddForm,
    PublishForm,
)
from tokens.models import Api


@admin.register(Api)
class ApiAdmin(AssemblyEditorMixin, DeclaredFiltersOnlyMixin, ServiceFormMixin, admin.ModelAdmin):
    """APIs: create, import, export, the API page (the assembly editor, its YAML, its publications), publish."""

    list_display = ("title", "name", "version", "base_path", "organization", "published_in")
    list_filter = ("organization",)
    search_fields = ("title", "name", "base_path")
    change_list_template = "admin/tokens/api_change_list.html"

    @admin.display(description="Published in")
    def published_in(self, obj: Api) -> str:
        return ", ".join(f"{p.catalog.slug} ({p.state})" for p in obj.publications.select_related("catalog")) or "-"

    def delete_model(self, request: HttpRequest, obj: Api) -> None:
        try:
            services.api_delete(api=obj, actor=Actor.for_user(request.user))
        except PublishError as e:
            self.message_user(request, str(e), level=messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Api]) -> None:
        for api in queryset:
            self.delete_model(request, api)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("create/", wrap(self.create_view), name="tokens_api_create"),
            path("<int:pk>/export.<str:fmt>", wrap(self.export_view), name="tokens_api_export"),
            path("<int:pk>/publish/", wrap(self.publish_view), name="tokens_api_publish"),
            *self.assembly_editor_urls(),
            *super().get_urls(),
        ]

    # -- create and import --------------------------------------------------------------------------------

    def create_view(self, request: HttpRequest) -> HttpResponse:
        require_permissions(request, "tokens.add_api")
        form = ApiCreateForm(*form_data(request))
        operations = OperationFormSet(request.POST if request.method == "POST" else None, prefix="operations")
        if request.method == "POST" and form.is_valid() and operations.is_valid():
            try:
                api = editor.api_create_from_spec(
                    organization=form.cleaned_data["organization"],
                    spec=form.spec(operations.operations()),
                    actor=Actor.for_user(request.user),
                )
            except REFUSALS as e:
                form.add_service_error(e)
            else:
                messages.success(request, f"API “{api}” was created. Add policies to its cases, then publish it.")
                return HttpResponseRedirect(reverse("admin:tokens_api_change", args=[api.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Create an API",
            "form": form,
            "operations": operations,
        }
        return TemplateResponse(request, "admin/tokens/api_create.html", context)

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
            intro="Upload an API Connect style OpenAPI document (YAML or JSON).",
        )

    def export_view(self, request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
        require_permissions(request, "tokens.view_api")
        api = get_object_or_404(Api, pk=pk)
        if fmt not in ("yaml", "json"):
            raise Http404
        content_type = "application/yaml" if fmt == "yaml" else "application/json"
        response = HttpResponse(document_dump(api.document, fmt=fmt), content_type=content_type)
        response["Content-Disposition"] = attachment_header(f"{api.name}_{api.version}.{fmt}")
        return response

    # -- the API page: outline, YAML, publications ----------------------------------------------------------

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The API page: identity, the assembly editor, the document's YAML and its publications."""
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
        api = self.get_object(request, object_id)
        if api is None:
            raise Http404(f"No API with id {object_id}.")
        if not self.has_view_or_change_permission(request, api):
            raise PermissionDenied
        return TemplateResponse(request, "admin/tokens/api_editor.html", self._editor_context(request, api))

    def _editor_context(self, request: HttpRequest, api: Api) -> dict[str, Any]:
        document = api.document
        user = request.user
        tag = editor.document_tag(api)
        try:
            description = document_describe(document)
            problem = ""
        except DocumentError as e:  # stored documents were checked on save; shown rather than failing the page
            description, problem = None, str(e)
        publications = list(api.publications.select_related("catalog__organization").order_by("catalog__slug"))
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": api.title,
            "subtitle": f"{api.name} {api.version}",
            "original": api,
            "api": api,
            "description": description,
            "problem": problem,
            "outline": viewmodels.assembly_outline(document),
            "settings": viewmodels.api_settings_summary(document),
            "document_yaml": document_dump(document, fmt="yaml"),
            "tag": tag,
            "can_change": user.has_perm("tokens.change_api"),
            "can_publish": user.has_perms(["tokens.add_publication", "tokens.change_publication"]),
            "can_test": user.has_perm("tokens.change_publication"),
            "policy_kinds": PolicyAddForm.base_fields["kind"].choices,  # type: ignore[attr-defined]
            "catch_form": CatchAddForm.for_document(tag=tag, caught=editor.caught_errors(document)),
            "publish_form": PublishForm(organization=api.organization),
            "publications": [(p, viewmodels.gateway_path(p)) for p in publications],
            "audit_url": reverse("admin:portal_auditevent_changelist") + f"?object=tokens.api:{api.pk}",
        }

    # -- publishing ------------------------------------------------------------------------------------------

    def publish_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        require_permissions(request, "tokens.add_publication", "tokens.change_publication")
        api = get_object_or_404(Api, pk=pk)
        form = PublishForm(*form_data(request), organization=api.organization)

        def perform(data: dict[str, Any], actor: Actor) -> HttpResponse:
            publication = services.api_publish(api=api, catalog=data["catalog"], actor=actor)
            messages.success(request, f"Published {api} to {publication.catalog} (revision {publication.revision}).")
            return HttpResponseRedirect(reverse("admin:tokens_api_change", args=[api.pk]) + "#publications")

        return self.run_service_form(
            request,
            form=form,
            title=f"Publish {api}",
            submit_label="Publish",
            perform=perform,
            intro="Publishing checks every policy first; a refused one is named and nothing changes.",
        )
