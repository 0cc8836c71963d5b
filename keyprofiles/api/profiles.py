"""``/api/v1/orgs/{org}/key-profiles`` and ``key-profiles/{name}``: create a key profile version enabled in
catalogs (201 with its crypto object names), list versions, read one profile's versions and their state per
catalog."""

from __future__ import annotations

from typing import TypeVar

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from keyprofiles import selectors, services
from keyprofiles.models import SIGNING_ALGORITHMS, KeyProfile, KeyProfileBinding, Keystore, Truststore, validate_semver
from portal import selectors as portal_selectors
from portal.api.permissions import OperatorOrReadingAuditor
from portal.api.schema import responses
from portal.api.views import OrganizationApi, validated
from portal.models import Catalog, Organization


class KeyProfileSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The slug of the title.")
    title = serializers.CharField()
    version = serializers.CharField()
    keystore = serializers.CharField(source="keystore.name", allow_null=True, default=None)
    truststore = serializers.CharField(source="truststore.name", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class BindingSerializer(serializers.Serializer):
    catalog = serializers.CharField(source="catalog.slug")
    state = serializers.ChoiceField(choices=KeyProfileBinding.State.choices)
    in_jwks = serializers.BooleanField()
    enabled_at = serializers.DateTimeField()
    activates_at = serializers.DateTimeField(allow_null=True)
    grace_ends_at = serializers.DateTimeField(allow_null=True)
    crypto_objects = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_crypto_objects(self, binding: KeyProfileBinding) -> list[str]:
        # Creation order, as APIC lists them: the key, then ca-0, ca-1... (prefetched, so sorted here)
        return [o.name for o in sorted(binding.crypto_objects.all(), key=lambda o: o.pk)]


class KeyProfileVersionSerializer(KeyProfileSerializer):
    catalogs = BindingSerializer(many=True, source="bindings.all")


class KeyProfileCreatedSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    version = serializers.CharField()
    crypto_objects = serializers.ListField(child=serializers.CharField())


class KeyProfileFilter(django_filters.FilterSet):
    class Meta:
        model = KeyProfile
        fields = ["name", "version"]


StoreModel = TypeVar("StoreModel", Keystore, Truststore)


def _named(organization: Organization, model: type[StoreModel], field: str, name: str | None) -> StoreModel | None:
    """The organization's keystore or truststore called ``name``; a 400 naming ``field`` when there is none."""
    if name is None:
        return None
    found = model.objects.filter(organization=organization, name=name).first()
    if found is None:
        raise exceptions.ValidationError({field: [f"No {field} named '{name}' in {organization.slug}."]})
    return found


class KeyProfileListCreateApi(OrganizationApi):
    permission_classes = [OperatorOrReadingAuditor]
    filterset_class = KeyProfileFilter
    ordering_fields = ["name", "version", "created_at"]

    class InputSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=200)
        keystore = serializers.CharField(max_length=100, required=False, help_text="Keystore name.")
        truststore = serializers.CharField(max_length=100, required=False, help_text="Truststore name.")
        version = serializers.CharField(max_length=32, default="1.0.0", validators=[validate_semver])
        alg = serializers.ChoiceField(
            choices=SIGNING_ALGORITHMS,
            required=False,
            help_text="The one JWS algorithm the keystore's key signs with (default: fixed by the first API that "
            "signs with it); the JWKS states it.",
        )
        catalogs = serializers.ListField(
            child=serializers.SlugField(max_length=50), default=list, max_length=100, help_text="Catalog slugs."
        )

    @extend_schema(operation_id="keyprofile_list", responses=responses({200: KeyProfileSerializer(many=True)}, 400))
    def get(self, request: Request, org: str) -> Response:
        return self.list_response(selectors.keyprofile_list(organization=self.organization), KeyProfileSerializer)

    @extend_schema(
        operation_id="keyprofile_create",
        request=InputSerializer,
        responses=responses({201: KeyProfileCreatedSerializer}, 400, 409, 413, 415),
    )
    def post(self, request: Request, org: str) -> Response:
        data = validated(self.InputSerializer, request)
        organization = self.organization
        catalogs: list[Catalog] = []
        for slug in dict.fromkeys(data["catalogs"]):
            catalog = portal_selectors.catalog_get(organization=organization, slug=slug)
            if catalog is None:
                raise exceptions.ValidationError({"catalogs": [f"No catalog '{slug}' in {organization.slug}."]})
            catalogs.append(catalog)
        profile = services.keyprofile_create(
            organization=organization,
            title=data["title"],
            version=data["version"],
            keystore=_named(organization, Keystore, "keystore", data.get("keystore")),
            truststore=_named(organization, Truststore, "truststore", data.get("truststore")),
            catalogs=catalogs,
            algorithm=data.get("alg", ""),
            actor=self.actor,
        )
        names = [o.name for binding in profile.bindings.all() for o in binding.crypto_objects.order_by("pk")]
        body = {"name": profile.name, "title": profile.title, "version": profile.version, "crypto_objects": names}
        return Response(KeyProfileCreatedSerializer(body).data, status=status.HTTP_201_CREATED)


class KeyProfileDetailApi(OrganizationApi):
    permission_classes = [OperatorOrReadingAuditor]

    class OutputSerializer(serializers.Serializer):
        name = serializers.CharField()
        versions = KeyProfileVersionSerializer(many=True)

    @extend_schema(operation_id="keyprofile_read", responses=responses({200: OutputSerializer}))
    def get(self, request: Request, org: str, name: str) -> Response:
        versions = selectors.keyprofile_versions(organization=self.organization, name=name)
        if not versions:
            raise exceptions.NotFound("No such key profile.")
        return Response(self.OutputSerializer({"name": name, "versions": versions}).data)
