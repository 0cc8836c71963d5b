"""What the console's custom pages share: forms that show a service's refusal beside the field at fault, an
admin mixin that renders such a form, runs the service and redirects to what it made, the permission check
every custom view starts with, and the console roles ("Operators", "Auditors") kept by ``post_migrate``.

Also the console's defences (docs/security.md): list filtering only on declared filters
(``DeclaredFiltersOnlyMixin``), error pages that never show what a key-carrying request held
(``receives_secrets``, ``ConsoleExceptionReporterFilter``), and the login throttle's audit events and
lock-out page (``audit_login_*``, ``login_lockout_response``)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.management import create_permissions
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import content_disposition_header
from django.views.debug import SafeExceptionReporterFilter
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from portal.errors import REFUSALS
from portal.models import AuditEvent
from portal.services import Actor, audit_record

ViewMethod = TypeVar("ViewMethod", bound=Callable[..., HttpResponse])


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


# A field whose values must never be filtered, searched or sorted on: sealed key material and digests of
# secrets. Filtering by ``client_secret_hash__startswith`` recovered a digest prefix by prefix (issue 9).
SECRET_FIELD = re.compile(r"^sealed_|_hash$|digest|secret|password")
# What a declared field filter, or the date hierarchy, puts after its field path in the query string.
_FILTER_LOOKUP_PARTS = frozenset({"exact", "iexact", "in", "isnull", "gte", "gt", "lte", "lt", "year", "month", "day"})


class DeclaredFiltersOnlyMixin:
    """Changelist filtering only through what the admin declares: its ``list_filter`` entries and its
    ``date_hierarchy``. Django admits a lookup on any local field (``?client_secret_hash__startswith=ab``);
    this admits a query parameter only when it is a declared field path followed by the comparisons the
    admin's own filters use (``organization__id__exact``, ``created_at__gte``), or a declared
    ``SimpleListFilter``'s parameter, and never one that touches a secret field. A refused lookup answers
    400 (Django's ``DisallowedModelAdminLookup``), never a 500.

    Every console ModelAdmin uses it (tests/portal/test_roles.py checks).
    """

    get_list_filter: Callable[[HttpRequest], Any]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        parts = lookup.split("__")
        if any(SECRET_FIELD.search(part) for part in parts):
            return False
        # The date hierarchy's year/month/day: Django builds dates from them, and an 11-digit year overflows.
        if parts[-1] in {"year", "month", "day"} and not (value.isascii() and value.isdigit() and len(value) <= 4):
            return False
        date_hierarchy = getattr(self, "date_hierarchy", None)
        declared_paths = [date_hierarchy] if date_hierarchy else []
        for entry in self.get_list_filter(request) if request is not None else ():
            if isinstance(entry, (tuple, list)):
                declared_paths.append(str(entry[0]))
            elif isinstance(entry, str):
                declared_paths.append(entry)
            elif lookup == getattr(entry, "parameter_name", None):
                return True
        for path in declared_paths:
            if lookup == path:
                return True
            if lookup.startswith(path + "__"):
                rest = lookup[len(path) + 2 :].split("__")
                # A relation filter names the related row's key: organization__id__exact.
                if rest[0] in ("id", "pk"):
                    rest = rest[1:]
                if rest and all(part in _FILTER_LOOKUP_PARTS for part in rest):
                    return True
        return False


def attachment_header(filename: str) -> str:
    """A ``Content-Disposition: attachment`` value for ``filename``, quoted by Django (RFC 6266): a name holding
    quotes, semicolons or control characters stays one file name and cannot add parameters or headers."""
    return content_disposition_header(True, filename) or "attachment"


class ServiceFormMixin:
    """Renders a ServiceForm, runs ``perform`` on a valid submit and shows the refusals it raises."""

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
        errors: tuple[type[Exception], ...] = (),
        intro: str = "",
    ) -> HttpResponse:
        """``perform``'s refusals (``portal.errors.REFUSALS``, and any further ``errors``) show on the form."""
        refusals: tuple[type[Exception], ...] = (*REFUSALS, *errors)
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
    ("tokens", "apipropertyvalue", ("add", "delete", "view")),
    ("portal", "auditevent", _READ),
    ("portal", "apikey", ("add", "change", "view")),
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
    # A migration runs this with the models of its time: roles name only those; post_migrate adds the rest.
    existing = {
        (label, model._meta.model_name) for label in ROLE_APPS for model in apps.get_app_config(label).get_models()
    }
    with transaction.atomic(using=using):
        for role, everything in ROLES.items():
            wanted = {
                (label, codename) for label, codename in everything if (label, codename.split("_", 1)[1]) in existing
            }
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


# -- error pages for requests that carry secrets ----------------------------------------------------------


def receives_secrets(view: ViewMethod) -> ViewMethod:
    """Mark a console view method that receives key material, passphrases or makes secrets: an error page
    or report for its request shows none of its POST values and none of the variables of any frame below
    it (Django's ``sensitive_post_parameters`` and ``sensitive_variables``, every name)."""
    hidden_variables = method_decorator(sensitive_variables())(view)
    marked: ViewMethod = method_decorator(sensitive_post_parameters())(hidden_variables)
    return marked


class ConsoleExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter (``DEFAULT_EXCEPTION_REPORTER_FILTER``), active in development too, and blanking every
    variable of every frame for a request marked as carrying secrets.

    Django cleanses only when DEBUG is off, but the debug page is where a crashing upload showed the private
    key and its passphrase as frame variables (issue 9). And Django cleanses only the names the nearest
    ``sensitive_variables`` lists: a crash inside an authentication backend still showed the password, since
    ``authenticate`` names only ``credentials``. A request marked by ``sensitive_post_parameters`` (the
    login view, ``receives_secrets`` views) therefore shows no variable at all; every other request keeps
    the full debug page.
    """

    def is_active(self, request: HttpRequest | None) -> bool:
        return True

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        if request is not None and getattr(request, "sensitive_post_parameters", None):
            return {name: self.cleansed_substitute for name in tb_frame.f_locals}.items()
        return super().get_traceback_frame_variables(request, tb_frame)


# -- login throttling (django-axes): audit events and the lock-out page ----------------------------------


def login_client_address(request: HttpRequest) -> str:
    """``AXES_CLIENT_IP_CALLABLE``: the address a login comes from, which the lock-out counts by.

    Behind ``PORTAL_TRUSTED_PROXIES`` load balancers (each appending the address it saw to X-Forwarded-For)
    it is the entry that many places from the right, since every entry left of it is the client's own claim;
    otherwise, or when that entry is not an IP address, the connection's REMOTE_ADDR.
    """
    remote = str(request.META.get("REMOTE_ADDR", ""))
    hops: int = settings.PORTAL_TRUSTED_PROXIES
    forwarded = [entry.strip() for entry in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    if hops <= 0 or len(forwarded) < hops:
        return remote
    try:
        return str(ipaddress.ip_address(forwarded[-hops]))
    except ValueError:
        return remote


def _client_address(request: HttpRequest | None) -> str:
    return str(getattr(request, "axes_ip_address", None) or (request.META.get("REMOTE_ADDR", "") if request else ""))


def audit_login_failure(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """``user_login_failed`` receiver: a ``login.failure`` event whose actor is the user name tried."""
    username = str(credentials.get("username") or "")
    audit_record(
        actor=Actor(name=username or "anonymous"),
        action="login.failure",
        outcome=AuditEvent.Outcome.FAILURE,
        detail={"ip_address": _client_address(request)},
    )


def audit_login_lockout(
    sender: Any, request: HttpRequest | None, username: str | None, ip_address: str | None, **kwargs: Any
) -> None:
    """axes' ``user_locked_out`` receiver: a ``login.lockout`` event (sent for every refused try while locked)."""
    audit_record(
        actor=Actor(name=username or "anonymous"),
        action="login.lockout",
        outcome=AuditEvent.Outcome.FAILURE,
        detail={"ip_address": ip_address or _client_address(request)},
    )


def audit_login_success(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """``user_logged_in`` receiver: a ``login.success`` event for the user."""
    audit_record(actor=Actor.for_user(user), action="login.success", detail={"ip_address": _client_address(request)})


def login_lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the console's lock-out page, 429, saying for how long and what to do."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in paused",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": minutes,
    }
    response = TemplateResponse(request, "admin/login_locked_out.html", context, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response.render()
