"""Output shapes shared by the tokens resources: an API version's facts, a publication, a consumer app.

Nothing here carries a client secret or its digest; client ids go to operators only (``AppSerializer``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tokens.admin import masked_client_id
from tokens.models import ConsumerApp, Publication
from tokens.services import api_etag


class ApiSerializer(serializers.Serializer):
    """An API version's facts; its document is at ``apis/{name}/{version}``."""

    name = serializers.CharField()
    version = serializers.CharField()
    title = serializers.CharField()
    base_path = serializers.CharField()
    openapi_version = serializers.CharField(help_text="2.0 or 3.0.x.")
    etag = serializers.SerializerMethodField(help_text="The strong ETag of the stored document, for If-Match.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_etag(self, api: Any) -> str:
        return api_etag(api)


class PublicationSerializer(serializers.Serializer):
    """An API version as published in a catalog: its snapshot's facts and state."""

    api = serializers.CharField(source="api.name", help_text="The API's name.")
    version = serializers.CharField(source="api.version")
    title = serializers.CharField(source="api.title")
    catalog = serializers.CharField(source="catalog.slug")
    state = serializers.ChoiceField(choices=Publication.State.choices)
    base_path = serializers.CharField()
    gateway_path = serializers.SerializerMethodField(help_text="Where the gateway serves it: /{org}/{catalog}{base}.")
    revision = serializers.IntegerField(help_text="How many times this version was published in this catalog.")
    published_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_gateway_path(self, publication: Publication) -> str:
        catalog = publication.catalog
        return f"/{catalog.organization.slug}/{catalog.slug}{publication.base_path}"


class SubscriptionSerializer(serializers.Serializer):
    api = serializers.CharField(source="api.name")
    version = serializers.CharField(source="api.version")
    state = serializers.ChoiceField(choices=Publication.State.choices)


class AppSerializer(serializers.Serializer):
    """A consumer app, never its secret. Its client id is whole for operators (``context['client_ids']``)
    and shows only its last four characters to others, as in the console."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    catalog = serializers.CharField(source="catalog.slug")
    client_id = serializers.SerializerMethodField(help_text="Whole for operators; '••••' and the last four else.")
    has_secret = serializers.BooleanField()
    subscriptions = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_client_id(self, app: ConsumerApp) -> str:
        return app.client_id if self.context.get("client_ids") else masked_client_id(app.client_id)

    @extend_schema_field(SubscriptionSerializer(many=True))
    def get_subscriptions(self, app: ConsumerApp) -> list[dict[str, Any]]:
        publications = sorted(app.subscriptions.all(), key=lambda p: (p.api.name, p.api.version))
        return list(SubscriptionSerializer(publications, many=True).data)
