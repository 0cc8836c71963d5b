"""What the console's custom pages share: forms that show a service's refusal beside the field at fault, an
admin mixin that renders such a form, runs the service and redirects to what it made, the permission check
every custom view starts with, and the console roles ("Operators", "Auditors") kept by ``post_migrate``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.contrib import admin, messages
from django.contrib.auth.management import create_permissions
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from portal.services import Actor


class ServiceForm(forms.Form):
    """A form that can show a domain error: on its ``field`` when the error names one of the form's fields,
    per field for a ValidationError with a dict, otherwise above the form.

    Browsers cannot refill a file input, so when the form comes back with errors each file field says which
    file was chosen last time and asks for it again (every other field keeps its value, except passwords).
    """

    def full_clean(self) -> None:
        super().full_clean()
        for name, field in self.fields.items():
            upload = self.files.get(name) if isinstance(field, forms.FileField) else None
            if upload is not None:
                # The bound field copied its help text when validation made it.
                self[name].help_text = (
                    f"You chose “{upload.name}”: choose it again, as browsers cannot keep a file when a form comes "
                    f"back. {field.help_text}"
                ).strip()

    def add_service_error(self, error: Exception) -> None:
        if isinstance(error, ValidationError):
            if hasattr(error, "error_dict"):
                for field, messages_ in error.message_dict.items():
                    self.add_error(field if field in self.fields else None, messages_)
            else:
                self.add_error(None, error.messages)
            return
        named = getattr(error, "field", None)
        self.add_error(named if named in self.fields else None, str(error))


def form_data(request: HttpRequest) -> tuple[Any, ...]:
    """The positional arguments that bind a form to a POST (data and files), or leave it unbound."""
    return (request.POST, request.FILES) if request.method == "POST" else ()


class ViewOnlyAdminMixin:
    """Console pages that only show rows: services make and change them, never a form of the admin's."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ServiceFormMixin:
    """Renders a ServiceForm, runs ``perform`` on a valid submit and shows the errors it raises."""

    admin_site: admin.AdminSite
    model: Any

    def run_service_form(
        self,
        request: HttpRequest,
        *,
        form: ServiceForm,
        title: str,
        submit_label: str,
        perform: Callable[[dict[str, Any], Actor], Any],
        errors: tuple[type[Exception], ...],
        intro: str = "",
    ) -> HttpResponse:
        refusals: tuple[type[Exception], ...] = (ValidationError, *errors)
        if request.method == "POST" and form.is_valid():
            try:
                created = perform(form.cleaned_data, Actor.for_user(request.user))
            except refusals as e:
                form.add_service_error(e)
            else:
                if isinstance(created, HttpResponse):
                    return created
                messages.success(request, f"{created._meta.verbose_name.capitalize()} “{created}” was saved.")
                info = (created._meta.app_label, created._meta.model_name)
                return HttpResponseRedirect(reverse("admin:{}_{}_change".format(*info), args=[created.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "form": form,
            "submit_label": submit_label,
            "intro": intro,
        }
        return TemplateResponse(request, "admin/service_form.html", context)


def require_permissions(request: HttpRequest, *permissions: str) -> None:
    """Refuse (403) a console request whose user lacks any of ``permissions`` (``app_label.codename``).

    Every custom console view calls this first: the admin only checks permissions on its own pages.
    """
    if not request.user.has_perms(permissions):
        raise PermissionDenied


# Console roles (DESIGN.md section 6): operators change keys, APIs and publications; auditors read. Each entry
# is (app label, model name, actions). Only superusers manage users, so no role touches auth models.
_EVERYTHING = ("add", "change", "delete", "view")
_READ = ("view",)
_ROLE_MODELS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("keyprofiles", "keystore", _EVERYTHING),
    ("keyprofiles", "truststore", _EVERYTHING),
    ("keyprofiles", "keyprofile", _EVERYTHING),
    ("keyprofiles", "cryptoobject", _READ),
    ("keyprofiles", "trustedcertificate", _READ),
    ("keyprofiles", "keyprofilebinding", _READ),
    ("tokens", "api", _EVERYTHING),
    ("tokens", "publication", _EVERYTHING),
    ("tokens", "consumerapp", _EVERYTHING),
    ("portal", "auditevent", _READ),
    ("portal", "organization", _READ),
    ("portal", "catalog", _READ),
)
OPERATORS = "Operators"
AUDITORS = "Auditors"
ROLES: dict[str, frozenset[tuple[str, str]]] = {
    OPERATORS: frozenset(
        (app_label, f"{action}_{model}") for app_label, model, actions in _ROLE_MODELS for action in actions
    ),
    AUDITORS: frozenset((app_label, f"view_{model}") for app_label, model, _ in _ROLE_MODELS),
}
ROLE_APPS = ("portal", "keyprofiles", "tokens")


def roles_sync(*, apps: Apps = global_apps, using: str = DEFAULT_DB_ALIAS) -> None:
    """Create the "Operators" and "Auditors" groups with exactly their permissions. Idempotent.

    Permissions are made by ``post_migrate`` app by app, so they are created here first for every app a role
    names. Hand edits to these two groups are reset on the next ``migrate``; make other groups for other roles.
    """
    for label in ROLE_APPS:
        create_permissions(global_apps.get_app_config(label), verbosity=0, using=using, apps=apps)
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    with transaction.atomic(using=using):
        for role, wanted in ROLES.items():
            group, _ = group_model.objects.using(using).get_or_create(name=role)
            permissions = [
                permission
                for permission in permission_model.objects.using(using)
                .filter(content_type__app_label__in=ROLE_APPS)
                .select_related("content_type")
                if (permission.content_type.app_label, permission.codename) in wanted
            ]
            missing = wanted - {(p.content_type.app_label, p.codename) for p in permissions}
            if missing:
                raise ImproperlyConfigured(f"Role {role} names unknown permissions: {sorted(missing)}.")
            group.permissions.set(permissions)


def roles_post_migrate(*, apps: Apps = global_apps, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """The ``post_migrate`` receiver (``PortalConfig.ready``): after every migrate, and after a test flush."""
    roles_sync(apps=apps, using=using)
