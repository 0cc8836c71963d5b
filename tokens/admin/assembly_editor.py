"""The assembly editor's actions on an API page: add, move and remove policies, catches (a default catch too)
and the cases of switch and operation-switch policies, and a policy's properties form (Save, or Save and
Publish). Each action is a POST that edits the document through ``tokens.editor.api_document_edit`` and
returns to the API page; removing a case that holds policies first answers a page saying how many go."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from portal.console import require_permissions
from portal.services import Actor
from tokens import editor, services
from tokens.admin.common import EDIT_ERRORS, form_problems
from tokens.documents import document_dump
from tokens.editor import EditorError
from tokens.errors import ApiError, PolicyConfigError
from tokens.forms import (
    POLICY_FORMS,
    ActionFormSet,
    ActivityLogForm,
    BranchAddForm,
    CaseAddForm,
    CaseRemoveForm,
    CatchAddForm,
    CatchRemoveForm,
    DocumentTagForm,
    PolicyAddForm,
    PolicyForm,
    PolicyMoveForm,
    PolicyRemoveForm,
    PropertyFormSet,
    PublishForm,
)
from tokens.models import Api
from tokens.viewmodels import branch_dom_id


class AssemblyEditorMixin(admin.ModelAdmin):
    """The editor's routes and views, for ``ApiAdmin``."""

    def assembly_editor_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
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
            path(
                "<int:pk>/assembly/catch/default/",
                wrap(require_POST(self.catch_default_add_view)),
                name="tokens_api_catch_default_add",
            ),
            path("<int:pk>/assembly/case/add/", wrap(require_POST(self.case_add_view)), name="tokens_api_case_add"),
            path(
                "<int:pk>/assembly/case/remove/",
                wrap(require_POST(self.case_remove_view)),
                name="tokens_api_case_remove",
            ),
            path(
                "<int:pk>/assembly/otherwise/add/",
                wrap(require_POST(self.otherwise_add_view)),
                name="tokens_api_otherwise_add",
            ),
            path("<int:pk>/assembly/policy/<path:at>/", wrap(self.policy_edit_view), name="tokens_api_policy"),
            path("<int:pk>/settings/", wrap(self.api_settings_view), name="tokens_api_settings"),
        ]

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
            messages.error(request, f"Nothing was changed: {form_problems(form)}")
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

    def catch_default_add_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        form = DocumentTagForm(request.POST)

        def edit(document: dict[str, Any]) -> str:
            editor.catch_default_add(document)
            return "Added the default catch (any error no other catch names); add the policies it runs."

        return self._edit(request, pk, form, edit, anchor=lambda _: "catches")

    def case_add_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        form = CaseAddForm(request.POST)

        added: list[str] = []

        def edit(document: dict[str, Any]) -> str:
            at, condition, operation = (form.cleaned_data[name] for name in ("at", "condition", "operation"))
            if operation is not None:
                added.append(editor.operation_case_add(document, at=at, verb=operation[0], path=operation[1]))
                return f"Added a case for {operation[0]} {operation[1]}; add the policies it runs."
            added.append(editor.switch_case_add(document, at=at, condition=condition))
            return f"Added a case when {condition}; add the policies it runs."

        return self._edit(request, pk, form, edit, anchor=lambda _: branch_dom_id(added[0]))

    def otherwise_add_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        form = BranchAddForm(request.POST)

        added: list[str] = []

        def edit(document: dict[str, Any]) -> str:
            added.append(editor.switch_otherwise_add(document, at=form.cleaned_data["at"]))
            return "Added otherwise (it runs when no condition holds); add the policies it runs."

        return self._edit(request, pk, form, edit, anchor=lambda _: branch_dom_id(added[0]))

    def case_remove_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Remove a case with its policies; a case holding policies is removed only once confirmed, on a page
        naming how many go (a POST answering a form with the same tag, so it removes what it named)."""
        require_permissions(request, "tokens.change_api")
        form = CaseRemoveForm(request.POST)
        if form.is_valid() and not form.cleaned_data["confirmed"]:
            api = get_object_or_404(Api, pk=pk)
            try:
                removal = editor.case_removal(api.document, at=form.cleaned_data["at"])
            except EditorError as e:
                messages.error(request, str(e))
                return HttpResponseRedirect(reverse("admin:tokens_api_change", args=[api.pk]) + "#assembly")
            if removal.policies:
                context = {
                    **self.admin_site.each_context(request),
                    "opts": self.opts,
                    "api": api,
                    "title": f"Remove “{removal.label}” of “{removal.switch_title}”?",
                    "removal": removal,
                    "at": form.cleaned_data["at"],
                    "tag": form.cleaned_data.get("tag") or "",
                }
                return TemplateResponse(request, "admin/tokens/case_remove_confirm.html", context)

        def edit(document: dict[str, Any]) -> str:
            removal = editor.case_remove(document, at=form.cleaned_data["at"])
            went = (
                f" and its {removal.policies} polic{'y' if removal.policies == 1 else 'ies'}"
                if removal.policies
                else ""
            )
            return f"Removed “{removal.label}”{went} from “{removal.switch_title}”."

        return self._edit(request, pk, form, edit, anchor=lambda _: "assembly")

    def api_settings_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The API's properties (``$(name)`` in any policy; catalog values override them) and its activity
        logging: both saved into the document at once."""
        require_permissions(request, "tokens.change_api")
        api = get_object_or_404(Api, pk=pk)
        target = reverse("admin:tokens_api_change", args=[api.pk])
        try:
            current = editor.api_activity_log(api.document)
            properties = editor.api_properties(api.document)
        except EditorError as e:
            messages.error(request, str(e))
            return HttpResponseRedirect(target)
        if request.method == "POST":
            form = ActivityLogForm(request.POST)
            rows = PropertyFormSet(request.POST, prefix="properties")
            if form.is_valid() and rows.is_valid():
                chosen, settings = rows.properties(), form.settings()
                try:
                    editor.api_document_edit(
                        api=api,
                        edit=lambda document: editor.api_settings_update(
                            document, properties=chosen, activity_log=settings
                        ),
                        tag=form.cleaned_data.get("tag") or None,
                        actor=Actor.for_user(request.user),
                    )
                except EDIT_ERRORS as e:
                    form.add_error(None, str(e))
                else:
                    messages.success(
                        request, f"Saved the properties and activity logging of {api}; publish to serve them."
                    )
                    return HttpResponseRedirect(target + "#settings")
        else:
            form = ActivityLogForm(initial={**ActivityLogForm.initial_from(current), "tag": editor.document_tag(api)})
            rows = PropertyFormSet(initial=PropertyFormSet.initial_from(properties), prefix="properties")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "api": api,
            "title": f"Properties and activity logging of {api}",
            "form": form,
            "rows": rows,
        }
        return TemplateResponse(request, "admin/tokens/api_settings.html", context)

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
        except ApiError as e:
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
