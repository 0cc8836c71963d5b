"""Publications: their states, the Postman download, and the test page with its key list."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST

from portal.console import (
    DeclaredFiltersOnlyMixin,
    ViewOnlyAdminMixin,
    attachment_header,
    require_permissions,
)
from portal.services import Actor
from tokens import selectors, services, viewmodels
from tokens.admin.common import form_problems, may_read_client_ids
from tokens.documents import document_describe
from tokens.errors import DocumentError, PublishError
from tokens.forms import PublicationStateForm
from tokens.models import Publication
from tokens.postman import postman_collection
from tokens.trace import trace_read, trace_token


@admin.register(Publication)
class PublicationAdmin(DeclaredFiltersOnlyMixin, ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("api", "catalog", "state", "base_path", "revision", "published_at", "subscriber_count")
    list_filter = ("state", "catalog__organization", "catalog")
    fields = ("api_link", "catalog", "state", "base_path", "revision", "published_at", "gateway", "downloads")
    readonly_fields = fields
    actions = ["deprecate", "retire", "reinstate"]
    change_form_template = "admin/tokens/publication_change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Publication]:
        return super().get_queryset(request).select_related("api", "catalog__organization")

    @admin.display(description="API")
    def api_link(self, obj: Publication) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:tokens_api_change", args=[obj.api_id]), obj.api)

    @admin.display(description="Subscribers")
    def subscriber_count(self, obj: Publication) -> int:
        return obj.subscribers.count()

    @admin.display(description="Gateway URL")
    def gateway(self, obj: Publication) -> str:
        return viewmodels.gateway_path(obj)

    @admin.display(description="Downloads")
    def downloads(self, obj: Publication) -> str:
        return format_html(
            '<a href="{}">Postman collection (v2.1)</a>', reverse("admin:tokens_publication_postman", args=[obj.pk])
        )

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not request.user.has_perm("tokens.change_publication"):
            return {}
        return actions

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # The list's only POST is a state action: refused outright rather than silently ignored.
        if request.method == "POST":
            require_permissions(request, "tokens.change_publication")
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {**(extra_context or {}), "can_change_state": request.user.has_perm("tokens.change_publication")}
        return super().change_view(request, object_id, form_url, extra)

    def _set_state(self, request: HttpRequest, queryset: QuerySet[Publication], state: str) -> None:
        require_permissions(request, "tokens.change_publication")
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
            path("<int:pk>/state/", wrap(require_POST(self.state_view)), name="tokens_publication_state"),
            path("<int:pk>/test/", wrap(require_GET(self.test_view)), name="tokens_publication_test"),
            path("<int:pk>/keys.json", wrap(require_GET(self.keys_view)), name="tokens_publication_keys"),
            path(
                "<int:pk>/backend-calls.json",
                wrap(require_GET(self.backend_calls_view)),
                name="tokens_publication_backend_calls",
            ),
            *super().get_urls(),
        ]

    def _publication(self, pk: int) -> Publication:
        return get_object_or_404(Publication.objects.select_related("api", "catalog__organization"), pk=pk)

    def postman_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        require_permissions(request, "tokens.view_publication")
        publication = self._publication(pk)
        app = publication.subscribers.order_by("created_at").first()
        # An auditor gets the collection without a client id: filling one in is an operator's choice.
        collection = postman_collection(
            document=publication.document,
            gateway_url=viewmodels.gateway_url(request, publication),
            client_id=app.client_id if app and may_read_client_ids(request.user) else "",
        )
        response = HttpResponse(json.dumps(collection, indent=2), content_type="application/json")
        filename = f"{publication.api.name}_{publication.api.version}.postman_collection.json"
        response["Content-Disposition"] = attachment_header(filename)
        return response

    def state_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Deprecate, retire or reinstate one publication (buttons on the API and publication pages)."""
        require_permissions(request, "tokens.change_publication")
        publication = self._publication(pk)
        form = PublicationStateForm(request.POST)
        if form.is_valid():
            self._set_state(request, Publication.objects.filter(pk=publication.pk), form.cleaned_data["state"])
        else:
            messages.error(request, f"Nothing was changed: {form_problems(form)}")
        back = request.POST.get("next") == "publication"
        target = (
            reverse("admin:tokens_publication_change", args=[publication.pk])
            if back
            else reverse("admin:tokens_api_change", args=[publication.api_id]) + "#publications"
        )
        return HttpResponseRedirect(target)

    def test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """APIC's Test tab: call the published API from the browser and read the answer and its token.

        Operators only: a test call signs real tokens with the catalog's keys.
        """
        require_permissions(request, "tokens.change_publication")
        publication = self._publication(pk)
        try:
            operations = viewmodels.operations_for_test(publication.document)
            description = document_describe(publication.document)
        except DocumentError as e:
            messages.error(request, f"This publication cannot be tested: {e}")
            return HttpResponseRedirect(reverse("admin:tokens_publication_change", args=[publication.pk]))
        setup: dict[str, Any] = {
            "gateway": viewmodels.gateway_path(publication),
            "keys": reverse("admin:tokens_publication_keys", args=[publication.pk]),
            "backendCalls": reverse("admin:tokens_publication_backend_calls", args=[publication.pk]),
            "trace": trace_token(),
            "operations": [
                {
                    "label": op.label,
                    "verb": op.verb,
                    "path": op.path,
                    "headers": "\n".join(f"{name}: {value}" for name, value in op.headers),
                    "tokenHeader": op.token_header,
                    "makesToken": op.makes_token,
                }
                for op in operations
            ],
        }
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Test {publication.api.title}",
            "subtitle": f"{publication.api} in {publication.catalog} ({publication.state})",
            "publication": publication,
            "operations": operations,
            "first_headers": setup["operations"][0]["headers"] if operations else "",
            "client_id": selectors.client_id_for_test(publication) if may_read_client_ids(request.user) else "",
            "secret_required": description.client_secret_required,
            "setup": setup,
        }
        response = TemplateResponse(request, "admin/tokens/publication_test.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def backend_calls_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """What the invokes of one test call did (``?trace=<token>&request=<request id>``), for the test page."""
        require_permissions(request, "tokens.change_publication")
        self._publication(pk)
        calls = trace_read(request.GET.get("trace", ""), request.GET.get("request", ""))
        response = JsonResponse({"calls": calls or []})
        response["Cache-Control"] = "no-store"
        return response

    def keys_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """kid -> crypto object names in the publication's catalog, for the test page's token view."""
        require_permissions(request, "tokens.change_publication", "keyprofiles.view_cryptoobject")
        publication = self._publication(pk)
        response = JsonResponse({"kids": selectors.crypto_object_kids(catalog=publication.catalog)})
        response["Cache-Control"] = "no-store"
        return response
