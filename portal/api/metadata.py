"""What ``OPTIONS`` answers: the view's name, description and media types, without DRF's "actions".

DRF describes POST/PUT from ``view.get_serializer()``, which the HackSoft-style views (a nested input
serializer per operation, no ``serializer_class``) do not have; the OpenAPI schema at /api/v1/schema is the
description of every body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request

if TYPE_CHECKING:  # rest_framework.views imports the API settings, which import this module
    from rest_framework.views import APIView


class OperationsMetadata(SimpleMetadata):
    def determine_metadata(self, request: Request, view: APIView) -> dict[str, Any]:
        return {
            "name": view.get_view_name(),
            "description": view.get_view_description(),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
            "schema": "/api/v1/schema",
        }
