"""``/api/v1/orgs/{org}/truststores`` and ``truststores/{name}``: certificates only, for verifying tokens signed
elsewhere. Create from a multipart ``certificates`` file or JSON ``{"name", "certificates": "<PEM text>"}``."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from keyprofiles import selectors, services
from keyprofiles.api.serializers import CertificateFactsSerializer
from keyprofiles.keymaterial import MAX_UPLOAD_BYTES
from keyprofiles.models import Truststore
from portal.api.parsers import BoundedJSONParser, BoundedMultiPartParser
from portal.api.permissions import OperatorOrReadingAuditor
from portal.api.schema import responses
from portal.api.views import OrganizationApi, validated


class TruststoreSerializer(serializers.Serializer):
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    certificates = CertificateFactsSerializer(many=True, source="certificates.all")


class TruststoreListCreateApi(OrganizationApi):
    permission_classes = [OperatorOrReadingAuditor]
    collection_model = Truststore
    ordering_fields = ["name", "created_at"]
    parser_classes = [BoundedJSONParser, BoundedMultiPartParser]

    class JsonInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        certificates = serializers.CharField(
            max_length=MAX_UPLOAD_BYTES, trim_whitespace=False, help_text="One or more PEM certificates."
        )

    class UploadInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        certificates = serializers.FileField(help_text="One or more certificates, PEM or DER.")

    @extend_schema(operation_id="truststore_list", responses=responses({200: TruststoreSerializer(many=True)}))
    def get(self, request: Request, org: str) -> Response:
        return self.list_response(selectors.truststore_list(organization=self.organization), TruststoreSerializer)

    @extend_schema(
        operation_id="truststore_create",
        request={"application/json": JsonInputSerializer, "multipart/form-data": UploadInputSerializer},
        responses=responses({201: TruststoreSerializer}, 400, 409, 413, 415),
    )
    def post(self, request: Request, org: str) -> Response:
        if request.content_type.startswith("multipart/"):
            data = validated(self.UploadInputSerializer, request)
            content: bytes = data["certificates"].read(MAX_UPLOAD_BYTES + 1)
        else:
            data = validated(self.JsonInputSerializer, request)
            content = data["certificates"].encode()
        truststore = services.truststore_import(
            organization=self.organization, name=data["name"], data=content, actor=self.actor
        )
        return Response(TruststoreSerializer(truststore).data, status=status.HTTP_201_CREATED)


class TruststoreDetailApi(OrganizationApi):
    permission_classes = [OperatorOrReadingAuditor]

    def get_truststore(self) -> Truststore:
        truststore = selectors.truststore_get(organization=self.organization, name=self.kwargs["name"])
        if truststore is None:
            raise exceptions.NotFound("No such truststore.")
        return truststore

    @extend_schema(operation_id="truststore_read", responses=responses({200: TruststoreSerializer}))
    def get(self, request: Request, org: str, name: str) -> Response:
        return Response(TruststoreSerializer(self.get_truststore()).data)

    @extend_schema(
        operation_id="truststore_delete",
        responses=responses({204: OpenApiResponse(description="Deleted.")}, 409),
        description="Refused with 409 while a key profile uses the truststore.",
    )
    def delete(self, request: Request, org: str, name: str) -> Response:
        services.truststore_delete(truststore=self.get_truststore(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
