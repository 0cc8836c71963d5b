"""``/api/v1/orgs/{org}/catalogs/{catalog}/apps``: consumer apps, their credentials and subscriptions.

A client secret is in exactly two answers, each once: the app's creation (when ``with_secret`` is asked) and
``reset-secret``; both carry ``Cache-Control: no-store``. The portal keeps only its digest, so no later read
can show it. Client ids are whole for operators and masked for auditors, as in the console. A new app is
subscribed to every API its catalog serves, as the console's "Create a consumer app" does.
"""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api.permissions import IsOperator, OperatorOrReadingAuditor, Role, api_role
from portal.api.schema import responses
from portal.api.views import OrganizationApi, validated
from tokens import services
from tokens.api.lookups import app_in, catalog_in
from tokens.api.serializers import AppSerializer, SubscriptionSerializer
from tokens.models import ConsumerApp, Publication


class AppCredentialsSerializer(AppSerializer):
    """The app with its credentials: the answer to creating it or resetting its secret, shown once."""

    client_secret = serializers.SerializerMethodField()

    @extend_schema_field(
        serializers.CharField(
            allow_null=True, help_text="Shown in this answer only (null when the app has none): store it now."
        )
    )
    def get_client_secret(self, app: ConsumerApp) -> str | None:
        secret: str | None = self.context["client_secret"]
        return secret


class AppFilter(django_filters.FilterSet):
    class Meta:
        model = ConsumerApp
        fields = ["name"]


def credentials_response(app: ConsumerApp, secret: str | None, *, status_code: int) -> Response:
    context = {"client_ids": True, "client_secret": secret}
    response = Response(AppCredentialsSerializer(app, context=context).data, status=status_code)
    response["Cache-Control"] = "no-store"
    return response


class _CatalogApi(OrganizationApi):
    def serializer_context(self) -> dict[str, Any]:
        return {"client_ids": api_role(self.request, self.kwargs["org"]) == Role.OPERATOR}

    def get_app(self) -> ConsumerApp:
        return app_in(catalog_in(self.organization, self.kwargs["catalog"]), self.kwargs["app_id"])


class AppListCreateApi(_CatalogApi):
    permission_classes = [OperatorOrReadingAuditor]
    filterset_class = AppFilter
    ordering_fields = ["name", "created_at"]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        description = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)
        with_secret = serializers.BooleanField(
            required=False, default=False, help_text="Give the app a client secret (shown once, in this answer)."
        )

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), **self.serializer_context()}

    @extend_schema(operation_id="app_list", responses=responses({200: AppSerializer(many=True)}, 400))
    def get(self, request: Request, org: str, catalog: str) -> Response:
        found = catalog_in(self.organization, catalog)
        apps = ConsumerApp.objects.filter(catalog=found).select_related("catalog")
        return self.list_response(apps.prefetch_related("subscriptions__api"), AppSerializer)

    @extend_schema(
        operation_id="app_create",
        request=InputSerializer,
        responses=responses({201: AppCredentialsSerializer}, 400, 409, 413, 415),
    )
    def post(self, request: Request, org: str, catalog: str) -> Response:
        found = catalog_in(self.organization, catalog)
        data = validated(self.InputSerializer, request)
        app, secret = services.app_create(catalog=found, actor=self.actor, **data)
        services.app_subscribe_served(app=app, actor=self.actor)
        return credentials_response(app, secret, status_code=status.HTTP_201_CREATED)


class AppDetailApi(_CatalogApi):
    permission_classes = [OperatorOrReadingAuditor]

    @extend_schema(operation_id="app_read", responses=responses({200: AppSerializer}))
    def get(self, request: Request, org: str, catalog: str, app_id: int) -> Response:
        return Response(AppSerializer(self.get_app(), context=self.serializer_context()).data)

    @extend_schema(operation_id="app_delete", request=None, responses=responses({204: None}))
    def delete(self, request: Request, org: str, catalog: str, app_id: int) -> Response:
        services.app_delete(app=self.get_app(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AppResetSecretApi(_CatalogApi):
    """Give the app a new client secret (shown once, in this answer); the old one stops working everywhere
    within seconds."""

    permission_classes = [IsOperator]

    @extend_schema(operation_id="app_reset_secret", request=None, responses=responses({200: AppCredentialsSerializer}))
    def post(self, request: Request, org: str, catalog: str, app_id: int) -> Response:
        app = self.get_app()
        secret = services.app_reset_secret(app=app, actor=self.actor)
        app.refresh_from_db()
        return credentials_response(app, secret, status_code=status.HTTP_200_OK)


class AppSubscriptionListApi(_CatalogApi):
    permission_classes = [OperatorOrReadingAuditor]

    class InputSerializer(serializers.Serializer):
        api = serializers.SlugField(max_length=50, help_text="The API's name.")
        version = serializers.CharField(max_length=32)

    @extend_schema(operation_id="app_subscription_list", responses=responses({200: SubscriptionSerializer(many=True)}))
    def get(self, request: Request, org: str, catalog: str, app_id: int) -> Response:
        publications = self.get_app().subscriptions.select_related("api").order_by("api__name", "api__version")
        return Response(SubscriptionSerializer(publications, many=True).data)

    @extend_schema(
        operation_id="app_subscribe",
        request=InputSerializer,
        responses=responses({201: SubscriptionSerializer}, 400, 413, 415),
    )
    def post(self, request: Request, org: str, catalog: str, app_id: int) -> Response:
        app = self.get_app()
        data = validated(self.InputSerializer, request)
        publication = (
            Publication.objects.filter(catalog=app.catalog, api__name=data["api"], api__version=data["version"])
            .select_related("api", "catalog")
            .first()
        )
        if publication is None:
            raise exceptions.ValidationError(
                {"api": [f"{data['api']} {data['version']} is not published in {app.catalog.slug}."]}
            )
        services.app_subscribe(app=app, publication=publication, actor=self.actor)
        return Response(SubscriptionSerializer(publication).data, status=status.HTTP_201_CREATED)


class AppSubscriptionDetailApi(_CatalogApi):
    permission_classes = [IsOperator]

    @extend_schema(operation_id="app_unsubscribe", request=None, responses=responses({204: None}))
    def delete(self, request: Request, org: str, catalog: str, app_id: int, name: str, version: str) -> Response:
        app = self.get_app()
        publication = app.subscriptions.filter(api__name=name, api__version=version).first()
        if publication is None:
            raise exceptions.NotFound(f"{app} is not subscribed to {name} {version}.")
        services.app_unsubscribe(app=app, publication=publication, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
