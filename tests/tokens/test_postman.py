"""The Postman collection (v2.1) of a published API: the generate request stores the Authorization header in
the global jwt_token, the validate request sends it (DESIGN.md section 1, step 2)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from tokens.demo import DemoSummary
from tokens.documents import document_load
from tokens.models import Publication
from tokens.postman import SCHEMA, postman_collection

from .helpers import api_document


def _collection(demo: DemoSummary) -> dict[str, Any]:
    publication = Publication.objects.get(api__name="jwt-generation-and-validation", catalog__slug="sandbox")
    return postman_collection(
        document=publication.document,
        gateway_url="http://127.0.0.1:8000/personal/sandbox/securetoken",
        client_id=demo.client_id,
    )


def _request(collection: dict[str, Any], name: str) -> dict[str, Any]:
    return next(item for item in collection["item"] if item["name"] == name)


def _script(item: dict[str, Any], listen: str) -> str:
    return "\n".join(line for event in item["event"] if event["listen"] == listen for line in event["script"]["exec"])


@pytest.mark.django_db
def test_the_collection_is_v2_1_with_both_operations_and_the_client_id(demo: DemoSummary) -> None:
    collection = _collection(demo)
    assert collection["info"]["schema"] == SCHEMA
    assert {item["name"] for item in collection["item"]} == {"GET /generate", "GET /validate"}
    variables = {v["key"]: v["value"] for v in collection["variable"]}
    assert variables == {
        "gateway_url": "http://127.0.0.1:8000/personal/sandbox/securetoken",
        "client_id": demo.client_id,
    }
    for item in collection["item"]:
        headers = {h["key"]: h["value"] for h in item["request"]["header"]}
        assert headers["X-IBM-Client-Id"] == "{{client_id}}"
        assert item["request"]["url"]["raw"].startswith("{{gateway_url}}/")


@pytest.mark.django_db
def test_generate_stores_the_authorization_header_in_the_global_jwt_token(demo: DemoSummary) -> None:
    generate = _request(_collection(demo), "GET /generate")
    script = _script(generate, "test")
    assert "pm.response.headers.get('Authorization')" in script
    assert "pm.globals.set('jwt_token'" in script
    headers = {h["key"]: h["value"] for h in generate["request"]["header"]}
    assert headers["iss-claim"] == "apic"
    assert headers["aud-claim"] == "id1"
    # Its twin, validate, stores nothing: it sends.
    assert _script(_request(_collection(demo), "GET /validate"), "test") == ""


@pytest.mark.django_db
def test_validate_sends_the_stored_token(demo: DemoSummary) -> None:
    validate = _request(_collection(demo), "GET /validate")
    script = _script(validate, "prerequest")
    assert "pm.globals.get('jwt_token')" in script
    assert "key: 'Authorization'" in script
    assert _script(_request(_collection(demo), "GET /generate"), "prerequest") == ""


@pytest.mark.django_db
def test_an_api_with_a_secret_asks_for_it(demo: DemoSummary) -> None:
    publication = Publication.objects.get(api__name="jwt-generation-and-validation", catalog__slug="sandbox")
    document = publication.document
    document["securityDefinitions"]["clientSecret"] = {"type": "apiKey", "in": "header", "name": "X-IBM-Client-Secret"}
    document["security"] = [{"clientID": [], "clientSecret": []}]
    collection = postman_collection(document=document, gateway_url="http://h/p/s/b", client_id="c")
    assert {"key": "client_secret", "value": ""} in collection["variable"]
    headers = {h["key"] for h in collection["item"][0]["request"]["header"]}
    assert "X-IBM-Client-Secret" in headers
    # The twin without a secret asks for none.
    plain = postman_collection(document=document_load(json.dumps(publication.document)), gateway_url="x", client_id="c")
    assert all(v["key"] != "client_secret" for v in plain["variable"])


@pytest.mark.django_db
def test_the_console_downloads_the_collection(demo: DemoSummary, admin_client: Client) -> None:
    publication = Publication.objects.get(api__name="jwt-generation-and-validation", catalog__slug="sandbox")
    response = admin_client.get(f"/admin/tokens/publication/{publication.pk}/postman.json")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    collection = json.loads(response.content)
    variables = {v["key"]: v["value"] for v in collection["variable"]}
    assert variables["gateway_url"] == "http://testserver/personal/sandbox/securetoken"
    assert variables["client_id"] == demo.client_id


def test_operation_id_cases_otherwise_and_top_level_policies_are_exported() -> None:
    """The gateway runs a case named by operationId, the switch's otherwise, and policies outside the switch:
    so does the export (it once read only verb-and-path cases)."""
    generate = {"jwt-generate": {"iss-claim": "request.headers.iss-claim", "jws-alg": "RS256", "jws-jwk": "k"}}
    validate = {"jwt-validate": {"jws-jwk": "k"}}
    switch = {
        "operation-switch": {
            "case": [
                {"operations": ["makeToken"], "execute": [generate]},
                {"operations": [{"verb": "get", "path": "/plain"}], "execute": []},
            ],
            "otherwise": [validate],
        }
    }
    document = api_document(paths=("/make", "/check", "/plain"), execute=[switch])
    document["paths"]["/make"]["get"]["operationId"] = "makeToken"
    collection = postman_collection(document=document, gateway_url="http://h/o/c/test", client_id="c")
    make, check, plain = (_request(collection, f"GET {path}") for path in ("/make", "/check", "/plain"))
    assert "pm.globals.set('jwt_token'" in _script(make, "test")
    assert {h["key"]: h["value"] for h in make["request"]["header"]}["iss-claim"] == "apic"
    assert "pm.globals.get('jwt_token')" in _script(check, "prerequest")
    # The twin case names its operation by verb and path and runs nothing: no script.
    assert plain["event"] == []
    # Outside the switch, a policy runs for every operation.
    top = postman_collection(
        document=api_document(paths=("/x",), execute=[validate]), gateway_url="http://h/o/c/test", client_id="c"
    )
    assert "pm.globals.get('jwt_token')" in _script(_request(top, "GET /x"), "prerequest")
