"""``/api/v1/orgs/{org}/keystores`` and ``keystores/{name}``: generate (JSON) or upload (multipart) a keystore,
list and read their public facts and public JWK, delete one no key profile uses (409 otherwise).

A private key never appears in an answer: the output serializers have no field that could hold it.
"""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from keyprofiles import selectors, services
from keyprofiles.api.serializers import CertificateFactsSerializer, PublicJwkSerializer
from keyprofiles.keymaterial import CURVES, GENERATE_RSA_BITS, MAX_DAYS, MAX_UPLOAD_BYTES
from keyprofiles.models import Keystore
from portal.api.parsers import BoundedJSONParser, BoundedMultiPartParser
from portal.api.permissions import OperatorOrReadingAuditor
from portal.api.schema import responses
from portal.api.views import OrganizationApi, validated


class KeystoreSerializer(CertificateFactsSerializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=Keystore.Kind.choices)
    source = serializers.ChoiceField(choices=Keystore.Source.choices)  # type: ignore[assignment]  # Field.source in the stubs; DRF pops declared fields
    curve = serializers.CharField()
    chain_length = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class KeystoreDetailSerializer(KeystoreSerializer):
    public_jwk = serializers.SerializerMethodField()
    used_by = serializers.SerializerMethodField()

    @extend_schema_field(PublicJwkSerializer(allow_null=True))
    def get_public_jwk(self, obj: Keystore) -> dict[str, str] | None:
        return selectors.keystore_public_jwk(obj)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_used_by(self, obj: Keystore) -> list[str]:
        return [str(profile) for profile in obj.keyprofiles.all()]


class KeystoreFilter(django_filters.FilterSet):
    class Meta:
        model = Keystore
        fields = ["kind", "key_type", "source"]


def _file_bytes(upload: object | None) -> bytes | None:
    """An uploaded file's content, read to one byte past the 1 MiB limit (the key-material checks refuse it)."""
    if upload is None:
        return None
    return upload.read(MAX_UPLOAD_BYTES + 1)  # type: ignore[attr-defined]


class KeystoreListCreateApi(OrganizationApi):
    permission_classes = [OperatorOrReadingAuditor]
    filterset_class = KeystoreFilter
    ordering_fields = ["name", "created_at", "not_after"]
    parser_classes = [BoundedJSONParser, BoundedMultiPartParser]

    class GenerateSerializer(serializers.Serializer):
        common_name = serializers.CharField(max_length=200)
        key_type = serializers.ChoiceField(choices=["RSA", "EC"], default="RSA")
        bits = serializers.ChoiceField(choices=list(GENERATE_RSA_BITS), default=2048, help_text="RSA only.")
        curve = serializers.ChoiceField(choices=list(CURVES), default="P-256", help_text="EC only.")
        days = serializers.IntegerField(min_value=1, max_value=MAX_DAYS, default=365)

    class GenerateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        generate = serializers.DictField(help_text="common_name, key_type (RSA|EC), bits or curve, days.")

    class UploadInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        certificate = serializers.FileField(required=False, help_text="PEM or DER; may hold the chain too.")
        private_key = serializers.FileField(required=False, help_text="PEM (optionally encrypted) or DER.")
        pkcs12 = serializers.FileField(required=False, help_text="Instead of certificate and private_key.")
        password = serializers.CharField(required=False, allow_blank=True, max_length=1024, trim_whitespace=False)
        chain = serializers.FileField(required=False, help_text="Intermediate certificates (PEM).")

    @extend_schema(operation_id="keystore_list", responses=responses({200: KeystoreSerializer(many=True)}, 400))
    def get(self, request: Request, org: str) -> Response:
        return self.list_response(selectors.keystore_list(organization=self.organization), KeystoreSerializer)

    @extend_schema(
        operation_id="keystore_create",
        description="JSON: generate a key and self-signed certificate. Multipart: upload PEM, DER or PKCS#12.",
        request={"application/json": GenerateInputSerializer, "multipart/form-data": UploadInputSerializer},
        responses=responses({201: KeystoreDetailSerializer}, 400, 409, 413, 415),
    )
    def post(self, request: Request, org: str) -> Response:
        if request.content_type.startswith("multipart/"):
            data = validated(self.UploadInputSerializer, request)
            password = data.get("password")
            keystore = services.keystore_import(
                organization=self.organization,
                name=data["name"],
                certificate=_file_bytes(data.get("certificate")),
                private_key=_file_bytes(data.get("private_key")),
                chain=_file_bytes(data.get("chain")),
                pkcs12=_file_bytes(data.get("pkcs12")),
                password=password.encode() if password else None,
                actor=self.actor,
            )
        else:
            data = validated(self.GenerateInputSerializer, request)
            options = self.GenerateSerializer(data=data["generate"])
            if not options.is_valid():
                raise exceptions.ValidationError({"generate": options.errors})
            keystore = services.keystore_generate(
                organization=self.organization, name=data["name"], actor=self.actor, **options.validated_data
            )
        return Response(KeystoreDetailSerializer(keystore).data, status=status.HTTP_201_CREATED)


class KeystoreDetailApi(OrganizationApi):
    permission_classes = [OperatorOrReadingAuditor]

    def get_keystore(self) -> Keystore:
        keystore = selectors.keystore_get(organization=self.organization, name=self.kwargs["name"])
        if keystore is None:
            raise exceptions.NotFound("No such keystore.")
        return keystore

    @extend_schema(operation_id="keystore_read", responses=responses({200: KeystoreDetailSerializer}))
    def get(self, request: Request, org: str, name: str) -> Response:
        return Response(KeystoreDetailSerializer(self.get_keystore()).data)

    @extend_schema(
        operation_id="keystore_delete",
        responses=responses({204: OpenApiResponse(description="Deleted.")}, 409),
        description="Refused with 409 while a key profile uses the keystore.",
    )
    def delete(self, request: Request, org: str, name: str) -> Response:
        services.keystore_delete(keystore=self.get_keystore(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
