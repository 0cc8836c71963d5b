"""The OpenAPI schema and the Swagger UI page, served from the portal's own static files."""

from __future__ import annotations

import base64
import hashlib
import re

import yaml
from django.http.response import HttpResponseBase
from django.test import Client

from portal.models import Organization


def test_the_schema_is_openapi_3_in_json_and_yaml(client: Client, organization: Organization) -> None:
    as_json = client.get("/api/v1/schema?format=json")
    assert as_json.status_code == 200
    document = as_json.json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/orgs/{org}/api-keys" in document["paths"]
    as_yaml = client.get("/api/v1/schema?format=yaml")
    assert as_yaml.status_code == 200
    assert yaml.safe_load(as_yaml.content)["paths"] == document["paths"]


def test_every_operation_describes_its_problems_and_the_bearer_scheme(
    client: Client, organization: Organization
) -> None:
    document = client.get("/api/v1/schema?format=json").json()
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["apiKey"]["description"],
    }
    for path, operations in document["paths"].items():
        for verb, operation in operations.items():
            assert "application/problem+json" in operation["responses"]["401"]["content"], (path, verb)
            assert any(code.startswith("2") for code in operation["responses"]), (path, verb)


def test_the_create_key_operation_describes_its_request_and_answer(client: Client, organization: Organization) -> None:
    document = client.get("/api/v1/schema?format=json").json()
    create = document["paths"]["/api/v1/orgs/{org}/api-keys"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ApiKeyListCreateInputRequest"
    )
    assert create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ApiKeyListCreateCreated"
    )
    assert "409" in create["responses"]


def test_the_docs_page_loads_swagger_ui_from_own_static_files(client: Client) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    script = client.get("/api/v1/docs?script=")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()


def test_the_docs_page_allows_its_inline_style_by_hash_and_nothing_else(client: Client) -> None:
    page = client.get("/api/v1/docs")
    (style,) = re.findall(r"<style>(.*?)</style>", page.content.decode(), re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    directives = csp_directives(page)
    assert directives["style-src"] == f"'self' 'sha256-{digest}'"
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in page["Content-Security-Policy"]


def test_other_pages_keep_the_strict_style_policy(client: Client) -> None:
    """The twin: the schema and the console login page allow no inline style at all."""
    for path in ("/api/v1/schema", "/admin/login/"):
        directives = csp_directives(client.get(path))
        assert (directives["style-src"], directives["script-src"]) == ("'self'", "'self'"), path


def csp_directives(response: HttpResponseBase) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))


def test_the_schema_generates_without_a_warning_and_validates(tmp_path: object) -> None:
    """drf-spectacular warns where it has to guess (a body it cannot describe, an enum name clash): the schema
    Schemathesis and users read must have none, and must validate against the OpenAPI 3 meta-schema."""
    from pathlib import Path

    from django.core.management import call_command

    target = Path(str(tmp_path)) / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert yaml.safe_load(target.read_text())["openapi"].startswith("3.")
