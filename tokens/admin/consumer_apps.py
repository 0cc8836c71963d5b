"""Consumer apps: credentials shown once, subscriptions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html_join
from django.views.decorators.http import require_POST

from portal.console import (
    DeclaredFiltersOnlyMixin,
    ServiceFormMixin,
    form_data,
    receives_secrets,
    require_permissions,
)
from portal.errors import REFUSALS, refusal_text
from portal.services import Actor
from tokens import services
from tokens.admin.common import form_problems, masked_client_id, may_read_client_ids
from tokens.forms import (
    ConsumerAppForm,
    SubscribeForm,
    UnsubscribeForm,
)
from tokens.models import ConsumerApp, Publication


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
            messages.error(request, f"Nothing was changed: {form_problems(form)}")
        else:
            publication = form.cleaned_data["publication"]
            try:
                change(app, publication, Actor.for_user(request.user))
            except REFUSALS as e:
                messages.error(request, refusal_text(e))
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
