"""The token-API console: APIs (create, import, the assembly editor, publish), publications (states, the
test page), and consumer apps (credentials, subscriptions).

Views stay thin: a form collects the input, ``tokens.editor`` edits the document and ``tokens.services``
saves and publishes it. Every custom view checks its permission first (``require_permissions``): the admin
checks only its own pages, and an auditor must be able to look at everything and change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_GET, require_POST

from portal.console import (
    DeclaredFiltersOnlyMixin,
    ServiceForm,
    ServiceFormMixin,
    ViewOnlyAdminMixin,
    attachment_header,
    form_data,
    receives_secrets,
    require_permissions,
)
from portal.services import Actor
from tokens import editor, selectors, services, viewmodels
from tokens.documents import document_describe, document_dump
from tokens.editor import EditorError
from tokens.errors import DocumentError, PolicyConfigError, PublishError
from tokens.forms import (
    POLICY_FORMS,
    ActionFormSet,
    ApiCreateForm,
    ApiUploadForm,
    CatchAddForm,
    CatchRemoveForm,
    ConsumerAppForm,
    DocumentTagForm,
    OperationFormSet,
    PolicyAddForm,
    PolicyForm,
    PolicyMoveForm,
    PolicyRemoveForm,
    PublicationStateForm,
    PublishForm,
    SubscribeForm,
    UnsubscribeForm,
)
from tokens.models import Api, ConsumerApp, Publication
from tokens.postman import postman_collection

PUBLISH_ERRORS = (DocumentError, PolicyConfigError, PublishError)
EDIT_ERRORS = (EditorError, DocumentError)


def gateway_base_url(request: HttpRequest, publication: Publication) -> str:
    return viewmodels.gateway_url(request, publication)


def may_read_client_ids(user: Any) -> bool:
    """Client ids are credentials (a client-id-only API mints tokens for whoever sends one): users who may
    change consumer apps read them; auditors, who only read, do not need them."""
    return bool(user.has_perm("tokens.change_consumerapp"))


def masked_client_id(client_id: str) -> str:
    """What an auditor sees of a client id: its last four characters, enough to tell apps apart in a log."""
    return f"••••{client_id[-4:]}"


def _form_problems(form: ServiceForm) -> str:
    return "; ".join(
        f"{'' if name == '__all__' else (form.fields[name].label or name) + ': '}{' '.join(str(m) for m in e)}"
        for name, e in form.errors.items()
    )


@admin.register(Api)
class ApiAdmin(DeclaredFiltersOnlyMixin, ServiceFormMixin, admin.ModelAdmin):
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
            path("<int:pk>/assembly/add/", wrap(require_POST(self.policy_add_view)), name="tokens_api_policy_add"),
            path("<int:pk>/assembly/move/", wrap(require_POST(self.policy_move_view)), name="tokens_api_policy_move"),
            path(
                "<int:pk>/assembly/remove/",
                wrap(require_POST(self.policy_remove_view)),
                name="tokens_api_policy_remove",
            ),
            path("<int:pk>/assembly/catch/add/", wrap(require_POST(self.catch_add_view)), name="tokens_api_catch_add"),
            path(
                "<int:pk>/assembly/catch/remove/",
                wrap(require_POST(self.catch_remove_view)),
                name="tokens_api_catch_remove",
            ),
            path("<int:pk>/assembly/policy/<path:at>/", wrap(self.policy_edit_view), name="tokens_api_policy"),
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
            except (ValidationError, DocumentError) as e:
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
            errors=(DocumentError,),
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

    # -- editor actions: each a POST that edits the document and saves it -----------------------------------

    def _edit(
        self,
        request: HttpRequest,
        pk: int,
        form: DocumentTagForm,
        edit: Callable[[dict[str, Any]], str],
        *,
        anchor: Callable[[str], str] = lambda result: "",
    ) -> HttpResponse:
        """Run one editor action: check, edit and save, report, and go back to the API page."""
        require_permissions(request, "tokens.change_api")
        api = get_object_or_404(Api, pk=pk)
        target = reverse("admin:tokens_api_change", args=[api.pk])
        if not form.is_valid():
            messages.error(request, f"Nothing was changed: {_form_problems(form)}")
            return HttpResponseRedirect(target)
        try:
            result = editor.api_document_edit(
                api=api, edit=edit, tag=form.cleaned_data.get("tag") or None, actor=Actor.for_user(request.user)
            )
        except EDIT_ERRORS as e:
            messages.error(request, str(e))
            return HttpResponseRedirect(target)
        messages.success(request, result)
        fragment = anchor(result)
        return HttpResponseRedirect(target + (f"#{fragment}" if fragment else ""))

    def policy_add_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        require_permissions(request, "tokens.change_api")
        form = PolicyAddForm(request.POST)
        if not form.is_valid():
            return self._edit(request, pk, form, lambda document: "")
        added: list[str] = []

        def edit(document: dict[str, Any]) -> str:
            added.append(editor.policy_add(document, at=form.cleaned_data["at"], kind=form.cleaned_data["kind"]))
            return f"Added a {form.cleaned_data['kind']} policy; set its properties."

        response = self._edit(request, pk, form, edit)
        if added:  # straight to the new policy's properties
            return HttpResponseRedirect(reverse("admin:tokens_api_policy", args=[pk, added[0]]))
        return response

    def policy_move_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        form = PolicyMoveForm(request.POST)

        def edit(document: dict[str, Any]) -> str:
            kind, config = editor.policy_get(document, form.cleaned_data["at"])
            editor.policy_move(document, at=form.cleaned_data["at"], offset=form.cleaned_data["offset"])
            return f"Moved “{config.get('title') or kind}” {'up' if form.cleaned_data['offset'] < 0 else 'down'}."

        return self._edit(request, pk, form, edit, anchor=lambda _: "assembly")

    def policy_remove_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        form = PolicyRemoveForm(request.POST)

        def edit(document: dict[str, Any]) -> str:
            return f"Removed “{editor.policy_remove(document, at=form.cleaned_data['at'])}”."

        return self._edit(request, pk, form, edit, anchor=lambda _: "assembly")

    def catch_add_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        form = CatchAddForm(request.POST)

        def edit(document: dict[str, Any]) -> str:
            editor.catch_add(document, error=form.cleaned_data["error"])
            return f"Added a catch for {form.cleaned_data['error']}; add the policies it runs."

        return self._edit(request, pk, form, edit, anchor=lambda _: "catches")

    def catch_remove_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        form = CatchRemoveForm(request.POST)

        def edit(document: dict[str, Any]) -> str:
            editor.catch_remove(document, index=form.cleaned_data["index"])
            return "Removed the catch."

        return self._edit(request, pk, form, edit, anchor=lambda _: "catches")

    def policy_edit_view(self, request: HttpRequest, pk: int, at: str) -> HttpResponse:
        """A policy's properties under API Connect's labels: Save, or Save and Publish to a catalog."""
        require_permissions(request, "tokens.change_api")
        api = get_object_or_404(Api, pk=pk)
        try:
            kind, config = editor.policy_get(api.document, at)
        except EditorError as e:
            messages.error(request, str(e))
            return HttpResponseRedirect(reverse("admin:tokens_api_change", args=[api.pk]))
        form_class = POLICY_FORMS.get(kind)
        tag = editor.document_tag(api)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "api": api,
            "at": at,
            "kind": kind,
            "title": f"{kind}: {config.get('title') or kind}",
            "tag": tag,
            "can_publish": request.user.has_perms(["tokens.add_publication", "tokens.change_publication"]),
        }
        if form_class is None:  # kept and shown, never edited: the portal does not run it
            context["config_yaml"] = document_dump(config, fmt="yaml")
            return TemplateResponse(request, "admin/tokens/policy_form.html", context)
        if request.method == "POST":
            form = form_class(request.POST, organization=api.organization)
            actions = ActionFormSet(request.POST, prefix="actions") if form_class.with_actions else None
            publish = PublishForm(request.POST, prefix="publish", organization=api.organization)
        else:
            form = form_class(initial={**form_class.initial_from(config), "tag": tag}, organization=api.organization)
            rows = ActionFormSet.initial_from(config)
            actions = ActionFormSet(initial=rows, prefix="actions") if form_class.with_actions else None
            publish = PublishForm(prefix="publish", organization=api.organization)
        if request.method == "POST" and form.is_valid() and (actions is None or actions.is_valid()):
            response = self._save_policy(request, api, at, form, actions, publish)
            if response is not None:
                return response
        context.update({"form": form, "actions": actions, "publish_form": publish})
        return TemplateResponse(request, "admin/tokens/policy_form.html", context)

    def _save_policy(
        self,
        request: HttpRequest,
        api: Api,
        at: str,
        form: PolicyForm,
        actions: Any,
        publish: PublishForm,
    ) -> HttpResponse | None:
        """Save the policy (and publish when asked). Returns the redirect, or None to show the form's errors."""
        wants_publish = "_publish" in request.POST
        if wants_publish:
            require_permissions(request, "tokens.add_publication", "tokens.change_publication")
            if not publish.is_valid():
                return None
        properties = form.properties()
        if actions is not None:
            properties["actions"] = actions.actions()
        actor = Actor.for_user(request.user)
        try:
            editor.api_document_edit(
                api=api,
                edit=lambda document: editor.policy_update(document, at=at, properties=properties),
                tag=form.cleaned_data.get("tag") or None,
                actor=actor,
            )
        except EDIT_ERRORS as e:
            form.add_error(None, str(e))
            return None
        api.refresh_from_db()
        title = properties["title"]
        target = reverse("admin:tokens_api_change", args=[api.pk])
        if not wants_publish:
            messages.success(request, f"Saved “{title}”.")
            return HttpResponseRedirect(target + "#assembly")
        catalog = publish.cleaned_data["catalog"]
        try:
            publication = services.api_publish(api=api, catalog=catalog, actor=actor)
        except PUBLISH_ERRORS as e:
            # Saved, not published: the form now stands for the saved document, so it carries its new tag.
            named = form.field_for(e.prop) if isinstance(e, PolicyConfigError) and e.policy == title else None
            data = request.POST.copy()
            data["tag"] = editor.document_tag(api)
            form.data = data
            form.add_error(named, f"Saved, but not published to {catalog}: {e}")
            return None
        messages.success(
            request, f"Saved “{title}” and published {api} to {catalog} (revision {publication.revision})."
        )
        return HttpResponseRedirect(target + "#publications")

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
            errors=PUBLISH_ERRORS,
            intro="Publishing checks every policy first; a refused one is named and nothing changes.",
        )


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
            gateway_url=gateway_base_url(request, publication),
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
            messages.error(request, f"Nothing was changed: {_form_problems(form)}")
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

    def keys_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """kid -> crypto object names in the publication's catalog, for the test page's token view."""
        require_permissions(request, "tokens.change_publication", "keyprofiles.view_cryptoobject")
        publication = self._publication(pk)
        response = JsonResponse({"kids": selectors.crypto_object_kids(catalog=publication.catalog)})
        response["Cache-Control"] = "no-store"
        return response


@admin.register(ConsumerApp)
class ConsumerAppAdmin(DeclaredFiltersOnlyMixin, ServiceFormMixin, admin.ModelAdmin):
    """Consumer apps. A client id is what a gateway call needs to mint a token, so only users who may change
    apps (operators) read it, search by it or sort by it; others (auditors) see its last four characters."""

    list_display = ("name", "catalog", "client_id", "has_secret", "subscription_list", "created_at")
    list_filter = ("catalog__organization", "catalog")
    search_fields = ("name", "client_id")
    fields = ("name", "catalog", "description", "client_id", "has_secret", "subscription_list", "created_at")
    readonly_fields = fields
    change_form_template = "admin/tokens/app_change_form.html"

    @admin.display(description="Client id")
    def masked_client_id(self, obj: ConsumerApp) -> str:
        return masked_client_id(obj.client_id)

    def _without_client_id(self, request: HttpRequest, names: Any) -> Any:
        if may_read_client_ids(request.user):
            return names
        return tuple("masked_client_id" if name == "client_id" else name for name in names)

    def get_list_display(self, request: HttpRequest) -> Any:
        return self._without_client_id(request, super().get_list_display(request))

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self._without_client_id(request, super().get_fields(request, obj))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self._without_client_id(request, super().get_readonly_fields(request, obj))

    def get_search_fields(self, request: HttpRequest) -> Any:
        fields = super().get_search_fields(request)
        return fields if may_read_client_ids(request.user) else tuple(f for f in fields if f != "client_id")

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
        app = self.get_object(request, object_id)
        can_change = request.user.has_perm("tokens.change_consumerapp")
        extra: dict[str, Any] = {**(extra_context or {}), "has_reset_permission": can_change}
        if app is not None:
            extra["subscriptions"] = [
                (publication, UnsubscribeForm(app=app, initial={"publication": publication.pk}))
                for publication in app.subscriptions.select_related("api", "catalog").order_by("base_path")
            ]
            extra["subscribe_form"] = SubscribeForm(app=app) if can_change else None
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/reset-secret/",
                wrap(require_POST(self.reset_secret_view)),
                name="tokens_consumerapp_reset_secret",
            ),
            path("<int:pk>/subscribe/", wrap(require_POST(self.subscribe_view)), name="tokens_consumerapp_subscribe"),
            path(
                "<int:pk>/unsubscribe/",
                wrap(require_POST(self.unsubscribe_view)),
                name="tokens_consumerapp_unsubscribe",
            ),
            *super().get_urls(),
        ]

    def _credentials_page(self, request: HttpRequest, app: ConsumerApp, secret: str | None) -> HttpResponse:
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "app": app, "secret": secret}
        response = TemplateResponse(request, "admin/tokens/credentials.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @receives_secrets
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

    @receives_secrets
    def reset_secret_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        require_permissions(request, "tokens.change_consumerapp")
        app = get_object_or_404(ConsumerApp, pk=pk)
        secret = services.app_reset_secret(app=app, actor=Actor.for_user(request.user))
        return self._credentials_page(request, app, secret)

    def _subscription_change(
        self,
        request: HttpRequest,
        pk: int,
        form_class: type[SubscribeForm] | type[UnsubscribeForm],
        change: Callable[[ConsumerApp, Publication, Actor], None],
        done: str,
    ) -> HttpResponse:
        require_permissions(request, "tokens.change_consumerapp")
        app = get_object_or_404(ConsumerApp, pk=pk)
        form = form_class(request.POST, app=app)
        if not form.is_valid():
            messages.error(request, f"Nothing was changed: {_form_problems(form)}")
        else:
            publication = form.cleaned_data["publication"]
            try:
                change(app, publication, Actor.for_user(request.user))
            except ValidationError as e:
                messages.error(request, "; ".join(e.messages))
            else:
                messages.success(request, f"{app} {done} {publication.api}.")
        return HttpResponseRedirect(reverse("admin:tokens_consumerapp_change", args=[app.pk]) + "#subscriptions")

    def subscribe_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._subscription_change(
            request,
            pk,
            SubscribeForm,
            lambda app, publication, actor: services.app_subscribe(app=app, publication=publication, actor=actor),
            "is subscribed to",
        )

    def unsubscribe_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._subscription_change(
            request,
            pk,
            UnsubscribeForm,
            lambda app, publication, actor: services.app_unsubscribe(app=app, publication=publication, actor=actor),
            "is no longer subscribed to",
        )
