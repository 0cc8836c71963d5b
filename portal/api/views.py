"""The building blocks of every REST API view: the organization from the URL, the caller as an audit actor,
and collections (filter, order, paginate); plus the schema and documentation pages."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from django.db.models import Model, QuerySet
from django.utils.functional import cached_property
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions, serializers
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from portal.apikeys import ApiKeyPrincipal
from portal.models import Organization
from portal.services import Actor


def request_actor(request: Request) -> Actor:
    """Who the audit trail names for this request: ``api-key:<org>/<name>`` or the console user."""
    user = request.user
    if isinstance(user, ApiKeyPrincipal):
        return Actor(name=f"api-key:{user.organization_slug}/{user.name}")
    return Actor.for_user(user)


def validated(
    serializer_class: type[serializers.Serializer],
    request: Request,
    **kwargs: Any,
) -> dict[str, Any]:
    """The request's data checked by ``serializer_class``; raises ValidationError (400 with ``errors``)."""
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class OrganizationApi(GenericAPIView):
    """Base of every view under ``/api/v1/orgs/{org}/``.

    Its permission classes (``portal.api.permissions``) resolve the caller's role in ``{org}`` first, so by
    the time a handler runs the caller may see the organization; ``self.organization`` loads it (404 when it
    does not exist). ``self.actor`` is the audit actor. ``self.list_response(queryset, Serializer)`` filters
    (``filterset_class``), orders (``ordering_fields``) and paginates a collection.
    """

    lookup_url_kwarg = "org"

    @cached_property
    def organization(self) -> Organization:
        organization = Organization.objects.filter(slug=self.kwargs["org"]).first()
        if organization is None:
            raise exceptions.NotFound("No such organization.")
        return organization

    @property
    def actor(self) -> Actor:
        return request_actor(self.request)

    # The model a collection lists, when no filterset_class names it: the ordering filter and the schema
    # generator ask GenericAPIView for a queryset even though list_response is given the real one.
    collection_model: type[Model] | None = None

    def get_queryset(self) -> QuerySet[Any]:
        filterset_class = getattr(self, "filterset_class", None)
        model = filterset_class._meta.model if filterset_class is not None else self.collection_model
        if model is None:
            raise NotImplementedError(f"{type(self).__name__} lists nothing")
        return model._default_manager.none()

    def list_response(self, queryset: QuerySet[Any], serializer_class: type[serializers.BaseSerializer]) -> Response:
        queryset = self.filter_queryset(queryset)
        page = self.paginate_queryset(queryset)
        if page is None:
            return Response(serializer_class(queryset, many=True, context=self.get_serializer_context()).data)
        data = serializer_class(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)


class SchemaView(SpectacularAPIView):
    """``GET /api/v1/schema``: the OpenAPI 3 document (``?format=yaml`` or ``json``). Public: it holds no data."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []


class DocsView(SpectacularSwaggerSplitView):
    """``GET /api/v1/docs``: Swagger UI from the portal's own static files, its script served separately so
    the page works under ``script-src 'self'``.

    drf-spectacular's page has one inline ``<style>`` block, which the console's ``style-src 'self'`` blocks.
    This view alone allows exactly that block by its SHA-256 hash (CSP Level 2, section 4.2.5.2): no
    ``'unsafe-inline'``, scripts stay ``'self'``, and every other page keeps the strict policy.
    """

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        response.render()
        hashes = [
            f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'"
            for block in _STYLE_ELEMENT.findall(response.content.decode())
        ]
        if hashes:
            # What django-csp's csp_update decorator sets; a decorator cannot know the hashes before rendering.
            response._csp_update = {"style-src": hashes}  # type: ignore[attr-defined]
        return response


# The text between <style> and </style>, exactly: a CSP hash covers those characters and nothing else.
_STYLE_ELEMENT = re.compile(r"<style>(.*?)</style>", re.DOTALL)
