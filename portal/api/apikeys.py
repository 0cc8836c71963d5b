"""``/api/v1/orgs/{org}/api-keys``: operators create (the key is in the answer, once), list, revoke and
expire API keys; auditors list them. The digest is never part of an answer."""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from portal import selectors, services
from portal.api.permissions import IsOperator, OperatorOrReadingAuditor
from portal.api.schema import responses
from portal.api.views import OrganizationApi, validated
from portal.models import ApiKey


class ApiKeySerializer(serializers.Serializer):
    """An API key's facts: never the key, never its digest."""

    name = serializers.CharField()
    role = serializers.ChoiceField(choices=ApiKey.Role.choices)
    profiles = serializers.ListField(child=serializers.CharField())
    allow_iss = serializers.CharField()
    allow_aud = serializers.CharField()
    allow_sub = serializers.CharField()
    max_expires_in = serializers.IntegerField(allow_null=True)
    display_prefix = serializers.CharField(help_text="The key's first characters, to tell keys apart.")
    state = serializers.ChoiceField(choices=["active", "expired", "revoked"])
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class ApiKeyFilter(django_filters.FilterSet):
    class Meta:
        model = ApiKey
        fields = ["role"]


class ApiKeyListCreateApi(OrganizationApi):
    permission_classes = [OperatorOrReadingAuditor]
    filterset_class = ApiKeyFilter
    ordering_fields = ["name", "created_at", "expires_at"]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        role = serializers.ChoiceField(choices=ApiKey.Role.choices)
        profiles = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
        allow_iss = serializers.CharField(required=False, default="", allow_blank=True, max_length=300)
        allow_aud = serializers.CharField(required=False, default="", allow_blank=True, max_length=300)
        allow_sub = serializers.CharField(required=False, default="", allow_blank=True, max_length=300)
        max_expires_in = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)
        expires_in = serializers.IntegerField(
            required=False,
            allow_null=True,
            default=None,
            min_value=1,
            max_value=10 * 366 * 86400,
            help_text="Lifetime of the key in seconds (default: no expiry).",
        )

    class CreatedSerializer(ApiKeySerializer):
        key = serializers.CharField(help_text="The API key. Shown in this answer only: store it now.")

    @extend_schema(operation_id="api_key_list", responses=responses({200: ApiKeySerializer(many=True)}))
    def get(self, request: Request, org: str) -> Response:
        return self.list_response(selectors.api_key_list(organization=self.organization), ApiKeySerializer)

    @extend_schema(
        operation_id="api_key_create",
        request=InputSerializer,
        responses=responses({201: CreatedSerializer}, 400, 409, 413, 415),
    )
    def post(self, request: Request, org: str) -> Response:
        data = validated(self.InputSerializer, request)
        expires_in = data.pop("expires_in")
        key, text = services.api_key_create(
            organization=self.organization,
            expires_at=timezone.now() + timedelta(seconds=expires_in) if expires_in else None,
            actor=self.actor,
            **data,
        )
        body = {**ApiKeySerializer(key).data, "key": text}
        response = Response(self.CreatedSerializer(body).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class _ApiKeyObjectApi(OrganizationApi):
    def get_api_key(self) -> ApiKey:
        key = selectors.api_key_get(organization=self.organization, name=self.kwargs["name"])
        if key is None:
            raise exceptions.NotFound("No such API key.")
        return key


class ApiKeyDetailApi(_ApiKeyObjectApi):
    permission_classes = [OperatorOrReadingAuditor]

    @extend_schema(operation_id="api_key_read", responses=responses({200: ApiKeySerializer}))
    def get(self, request: Request, org: str, name: str) -> Response:
        return Response(ApiKeySerializer(self.get_api_key()).data)


class ApiKeyRevokeApi(_ApiKeyObjectApi):
    """Revoke the key for good (idempotent); every process refuses it within seconds."""

    permission_classes = [IsOperator]

    @extend_schema(operation_id="api_key_revoke", request=None, responses=responses({200: ApiKeySerializer}))
    def post(self, request: Request, org: str, name: str) -> Response:
        key = services.api_key_revoke(key=self.get_api_key(), actor=self.actor)
        return Response(ApiKeySerializer(key).data)


class ApiKeyExpireApi(_ApiKeyObjectApi):
    """Make the key expire now (idempotent; never extends a key's life)."""

    permission_classes = [IsOperator]

    @extend_schema(operation_id="api_key_expire", request=None, responses=responses({200: ApiKeySerializer}))
    def post(self, request: Request, org: str, name: str) -> Response:
        key = services.api_key_expire(key=self.get_api_key(), actor=self.actor)
        return Response(ApiKeySerializer(key).data)
