"""What the console's custom pages share: forms that show a service's refusal beside the field at fault,
and an admin mixin that renders such a form, runs the service and redirects to what it made."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from portal.services import Actor


class ServiceForm(forms.Form):
    """A form that can show a domain error: on its ``field`` when the error names one of the form's fields,
    per field for a ValidationError with a dict, otherwise above the form."""

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
