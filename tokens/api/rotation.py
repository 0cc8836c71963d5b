"""Key rotation over REST: ``POST /api/v1/orgs/{org}/catalogs/{catalog}/key-profiles/{name}/rotate``.

The options of ``manage.py rotate_keyprofile`` as JSON, carried out by ``tokens.rotation.keyprofile_rotate``
(operators only); the answer is the rotation plan. Without ``prepublish`` the call waits a few seconds
(``portal.invalidation.propagation_seconds``) so that every process verifies with the new key before it
signs; with ``prepublish`` it returns at once and ``manage.py retire_keys`` activates the new version when
its time comes.
"""

from __future__ import annotations

from datetime import timedelta

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from keyprofiles import keymaterial, lifecycle
from keyprofiles.models import SEMVER, Keystore
from portal.api.permissions import IsOperator
from portal.api.schema import responses
from portal.api.views import OrganizationApi, validated
from portal.durations import parse_duration
from portal.models import Catalog
from tokens.api.token_service import PATH_PARAMETERS
from tokens.rotation import KeySource, keyprofile_rotate

MAX_DURATION_LENGTH = 32


@extend_schema_field({"type": "string", "example": "2h", "maxLength": MAX_DURATION_LENGTH})
class DurationField(serializers.Field):
    """A duration as people type it (``90s``, ``15m``, ``2h``, ``7d``, ``1h30m``), parsed to a timedelta."""

    default_error_messages = {"invalid": "Give a duration as text, e.g. 90s, 15m, 2h, 7d or 1h30m."}

    def to_internal_value(self, data: object) -> timedelta:
        if not isinstance(data, str) or len(data) > MAX_DURATION_LENGTH:
            self.fail("invalid")
        try:
            return parse_duration(data)
        except ValueError as e:
            raise serializers.ValidationError(str(e), code="invalid_duration") from e

    def to_representation(self, value: timedelta) -> str:
        return f"{int(value.total_seconds())}s"


class KeyProfileRotateApi(OrganizationApi):
    """Rotate the profile's key in the catalog (or, with ``dry_run``, only say what would happen)."""

    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        generate = serializers.BooleanField(
            required=False, help_text="Generate the new key like the current one (the default without keystore)."
        )
        bits = serializers.ChoiceField(
            choices=keymaterial.GENERATE_RSA_BITS, required=False, help_text="RSA size of a generated key."
        )
        keystore = serializers.CharField(
            required=False, max_length=100, help_text="Use this existing keystore instead of generating."
        )
        version = serializers.RegexField(
            SEMVER, required=False, help_text="Version of the new profile (default: the next patch version)."
        )
        grace = DurationField(
            required=False,
            help_text="How long the old key keeps verifying, e.g. 2h (default and minimum: the longest token "
            "validity of the APIs signing with it).",
        )
        prepublish = DurationField(
            required=False, help_text="List the new key in the JWKS this long before it signs, e.g. 1d."
        )
        dry_run = serializers.BooleanField(default=False, help_text="Answer the plan; change nothing.")

        def validate(self, attrs: dict[str, object]) -> dict[str, object]:
            if attrs.get("keystore") and attrs.get("generate"):
                raise serializers.ValidationError({"keystore": "Give keystore or generate, not both."})
            if attrs.get("keystore") and attrs.get("bits"):
                raise serializers.ValidationError({"bits": "bits sets the size of a generated key, not a keystore."})
            return attrs

    class OutputSerializer(serializers.Serializer):
        organization = serializers.CharField()
        catalog = serializers.CharField()
        profile = serializers.CharField()
        old_version = serializers.CharField()
        new_version = serializers.CharField()
        key_source = serializers.CharField()
        grace_seconds = serializers.IntegerField()
        prepublish_seconds = serializers.IntegerField()
        activates_at = serializers.DateTimeField(help_text="When the new version starts signing.")
        old_version_retires_at = serializers.DateTimeField(help_text="When the old version stops verifying.")
        apis_moved = serializers.ListField(child=serializers.CharField(), help_text="APIs republished on the new key.")
        crypto_objects = serializers.DictField(
            child=serializers.CharField(), help_text="Old crypto object name to new."
        )
        dry_run = serializers.BooleanField()

    @extend_schema(
        operation_id="keyprofile_rotate",
        parameters=PATH_PARAMETERS,
        request=InputSerializer,
        responses=responses({200: OutputSerializer}, 400, 409, 413, 415),
        examples=[
            OpenApiExample("Pre-publish for a day", value={"prepublish": "1d", "grace": "2h"}, request_only=True)
        ],
    )
    def post(self, request: Request, org: str, catalog: str, name: str) -> Response:
        data = validated(self.InputSerializer, request)
        row = Catalog.objects.filter(organization=self.organization, slug=catalog).first()
        if row is None:
            raise exceptions.NotFound(f"No catalog '{catalog}' in organization '{org}'.")
        if not lifecycle.profile_bindings(catalog=row, name=name).exists():
            raise exceptions.NotFound(f"No key profile '{name}' is enabled in catalog {row}.")
        source = KeySource(bits=data.get("bits"))
        if data.get("keystore"):
            keystore = Keystore.objects.filter(organization=self.organization, name=data["keystore"]).first()
            if keystore is None:
                raise exceptions.ValidationError({"keystore": f"No keystore '{data['keystore']}' in '{org}'."})
            source = KeySource(keystore=keystore)
        plan = keyprofile_rotate(
            catalog=row,
            name=name,
            source=source,
            new_version=data.get("version"),
            grace=data.get("grace"),
            prepublish=data.get("prepublish"),
            dry_run=data["dry_run"],
            actor=self.actor,
        )
        return Response(self.OutputSerializer(plan.as_dict()).data)
