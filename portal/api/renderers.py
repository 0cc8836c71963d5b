"""The browsable API for console users, shaped for views with one input serializer per operation.

DRF's browsable renderer builds its HTML and raw-data forms from ``view.get_serializer()``, which these views
do not have (each operation nests its own ``InputSerializer``); it shows the answers and the filters only. The
OpenAPI schema and Swagger UI (/api/v1/docs) describe and try every operation.
"""

from __future__ import annotations

from typing import Any

from rest_framework import renderers
from rest_framework.request import Request


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    def get_rendered_html_form(self, data: Any, view: Any, method: str, request: Request) -> Any:
        return None

    def get_raw_data_form(self, data: Any, view: Any, method: str, request: Request) -> Any:
        return None

    def get_filter_form(self, data: Any, view: Any, request: Request) -> Any:
        if not getattr(view, "filter_backends", None):
            return None
        return super().get_filter_form(data, view, request)
