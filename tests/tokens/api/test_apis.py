"""``apis``: documents in as JSON or YAML, out as JSON or YAML, replaced with If-Match, deleted, published."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from rest_framework.test import APIClient

from keyprofiles.models import KeyProfile
from portal.models import AuditEvent, Catalog, Organization
from tests.api import MakeKey, bearer
from tokens.documents import document_dump, document_load
from tokens.models import Api, Publication

APIS = "/api/v1/orgs/personal/apis"
DEMO = f"{APIS}/jwt-generation-and-validation/1.0.0"
pytestmark = pytest.mark.django_db


def test_an_operator_imports_a_yaml_document_and_gets_its_identity_and_etag(
    client: APIClient, organization: Organization, operator: dict[str, str], demo_yaml: bytes
) -> None:
    answer = client.post(APIS, demo_yaml, content_type="application/yaml", **operator)
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["name"] == "jwt-generation-and-validation"
    assert (body["version"], body["base_path"]) == ("1.0.0", "/securetoken")
    assert answer["ETag"] == body["etag"]
    assert answer["ETag"].startswith('"')
    assert answer["ETag"].endswith('"')
    assert answer["Location"].endswith(DEMO)
    api = Api.objects.get(organization=organization, name="jwt-generation-and-validation")
    assert api.document == document_load(demo_yaml)
    event = AuditEvent.objects.get(action="api.create")
    assert event.actor == "api-key:personal/operator-1"


@pytest.mark.parametrize("content_type", ["application/json", "text/yaml"])
def test_json_and_text_yaml_bodies_are_documents_too(
    client: APIClient, organization: Organization, operator: dict[str, str], demo_yaml: bytes, content_type: str
) -> None:
    document = document_load(demo_yaml)
    body = json.dumps(document) if content_type == "application/json" else demo_yaml
    answer = client.post(APIS, body, content_type=content_type, **operator)
    assert answer.status_code == 201, answer.content
    assert Api.objects.get(name="jwt-generation-and-validation").document == document


def test_posting_an_existing_version_is_a_conflict_and_changes_nothing(
    client: APIClient, organization: Organization, operator: dict[str, str], demo_yaml: bytes
) -> None:
    assert client.post(APIS, demo_yaml, content_type="application/yaml", **operator).status_code == 201
    changed = demo_yaml.replace(b"title: JWT Generation and Validation", b"title: Changed")
    again = client.post(APIS, changed, content_type="application/yaml", **operator)
    assert again.status_code == 409
    assert again.json()["code"] == "name_taken"
    assert Api.objects.get().title == "JWT Generation and Validation"


def test_bad_yaml_answers_400_naming_the_line_and_stores_nothing(
    client: APIClient, organization: Organization, operator: dict[str, str], demo_yaml: bytes
) -> None:
    broken = demo_yaml.replace(b"basePath: /securetoken", b"basePath: [/securetoken")
    answer = client.post(APIS, broken, content_type="application/yaml", **operator)
    assert answer.status_code == 400
    assert answer["Content-Type"] == "application/problem+json"
    problem = answer.json()
    assert re.search(r"at line 1[01], column \d+", problem["detail"]), problem["detail"]  # basePath is line 10
    assert not Api.objects.exists()


@pytest.mark.parametrize(
    ("content_type", "body", "words"),
    [
        ("application/yaml", b"a: &x 1\nb: *x\n", "aliases are not allowed"),
        ("application/yaml", b"swagger: '2.0'\nswagger: '2.0'\n", "duplicate key"),
        ("application/json", b'{"swagger": "2.0", "swagger": "2.0"}', "duplicate key"),
        ("application/json", b'{"swagger": "2.0",', "line 1"),
        ("application/json", b"[1, 2]", "must be a mapping"),
        ("application/yaml", b"\xff\xfe", "UTF-8"),
        ("application/yaml", b"[" * 5000 + b"]" * 5000, "nested more than 64 levels"),
        ("application/json", b'{"a":' * 5000 + b"1" + b"}" * 5000, "nested more than 64 levels"),
    ],
)
def test_malformed_bodies_are_refused_with_a_reason(
    client: APIClient, organization: Organization, operator: dict[str, str], content_type: str, body: bytes, words: str
) -> None:
    answer = client.post(APIS, body, content_type=content_type, **operator)
    assert answer.status_code == 400
    assert words in answer.json()["detail"]


def test_an_empty_body_is_refused(client: APIClient, organization: Organization, operator: dict[str, str]) -> None:
    for content_type in ("application/json", "application/yaml"):
        answer = client.post(APIS, b"", content_type=content_type, **operator)
        assert answer.status_code == 400, answer.content
        assert answer["Content-Type"] == "application/problem+json"
    assert not Api.objects.exists()


def test_a_well_formed_document_that_is_not_an_api_is_refused_naming_the_place(
    client: APIClient, organization: Organization, operator: dict[str, str], demo_yaml: bytes
) -> None:
    no_version = demo_yaml.replace(b"  version: 1.0.0\n", b"  version: one\n")
    answer = client.post(APIS, no_version, content_type="application/yaml", **operator)
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid_document"
    assert "info.version" in answer.json()["detail"]


def test_a_document_over_1_mib_is_413_and_an_unknown_type_415(
    client: APIClient, organization: Organization, operator: dict[str, str], demo_yaml: bytes
) -> None:
    padded = demo_yaml + b"# " + b"x" * (1024 * 1024) + b"\n"
    assert client.post(APIS, padded, content_type="application/yaml", **operator).status_code == 413
    assert client.post(APIS, demo_yaml, content_type="text/plain", **operator).status_code == 415
    assert client.post(APIS, demo_yaml, content_type="application/yaml", **operator).status_code == 201


@pytest.fixture
def imported(client: APIClient, organization: Organization, operator: dict[str, str], demo_yaml: bytes) -> str:
    """The demo API imported; returns its ETag."""
    answer = client.post(APIS, demo_yaml, content_type="application/yaml", **operator)
    assert answer.status_code == 201
    return str(answer["ETag"])


def test_the_document_comes_back_as_json_or_as_lossless_yaml(
    client: APIClient, imported: str, auditor: dict[str, str], demo_yaml: bytes
) -> None:
    as_json = client.get(DEMO, **auditor)
    assert as_json.status_code == 200
    assert as_json.json() == document_load(demo_yaml)
    assert as_json["ETag"] == imported
    as_yaml = client.get(DEMO, HTTP_ACCEPT="application/yaml", **auditor)
    assert as_yaml.status_code == 200
    assert as_yaml["Content-Type"].startswith("application/yaml")
    assert as_yaml.content.decode() == document_dump(document_load(demo_yaml), fmt="yaml")
    assert list(yaml.safe_load(as_yaml.content)) == list(document_load(demo_yaml))  # key order kept
    assert as_yaml["ETag"] == imported
    assert client.get(f"{DEMO}?format=yaml", **auditor).content == as_yaml.content


def test_a_replacement_needs_if_match_and_the_current_etag(
    client: APIClient, imported: str, operator: dict[str, str], demo_yaml: bytes
) -> None:
    changed = demo_yaml.replace(b"title: JWT Generation and Validation", b"title: Tokens")
    missing = client.put(DEMO, changed, content_type="application/yaml", **operator)
    assert missing.status_code == 428
    assert missing.json()["code"] == "precondition_required"
    wrong = client.put(DEMO, changed, content_type="application/yaml", HTTP_IF_MATCH='"0123"', **operator)
    assert wrong.status_code == 412
    assert wrong.json()["code"] == "precondition_failed"
    assert Api.objects.get().title == "JWT Generation and Validation"

    right = client.put(DEMO, changed, content_type="application/yaml", HTTP_IF_MATCH=imported, **operator)
    assert right.status_code == 200, right.content
    assert right.json()["info"]["title"] == "Tokens"
    assert right["ETag"] != imported
    assert Api.objects.get().title == "Tokens"
    assert AuditEvent.objects.filter(action="api.update").count() == 1
    # The tag read before the change is stale now: a second editor working from it is refused.
    stale = client.put(DEMO, demo_yaml, content_type="application/yaml", HTTP_IF_MATCH=imported, **operator)
    assert stale.status_code == 412
    assert Api.objects.get().title == "Tokens"


def test_a_weak_tag_never_matches_and_a_star_matches_any(
    client: APIClient, imported: str, operator: dict[str, str], demo_yaml: bytes
) -> None:
    weak = client.put(DEMO, demo_yaml, content_type="application/yaml", HTTP_IF_MATCH=f"W/{imported}", **operator)
    assert weak.status_code == 412
    star = client.put(DEMO, demo_yaml, content_type="application/yaml", HTTP_IF_MATCH="*", **operator)
    assert star.status_code == 200


def test_a_replacement_must_describe_the_same_api_and_version(
    client: APIClient, imported: str, operator: dict[str, str], demo_yaml: bytes
) -> None:
    other_version = demo_yaml.replace(b"  version: 1.0.0\n", b"  version: 2.0.0\n")
    answer = client.put(DEMO, other_version, content_type="application/yaml", HTTP_IF_MATCH=imported, **operator)
    assert answer.status_code == 400
    assert answer.json()["code"] == "identity_mismatch"
    assert list(Api.objects.values_list("version", flat=True)) == ["1.0.0"]


def test_a_published_api_cannot_be_deleted_until_retired(
    client: APIClient,
    imported: str,
    operator: dict[str, str],
    sandbox: Catalog,
    jwt_keyprofile: KeyProfile,
) -> None:
    assert client.post(f"{DEMO}/publish", {"catalog": "sandbox"}, format="json", **operator).status_code == 200
    refused = client.delete(DEMO, **operator)
    assert refused.status_code == 409
    assert refused.json()["code"] == "in_use"
    assert "retire" in refused.json()["detail"]
    Publication.objects.update(state=Publication.State.RETIRED)
    assert client.delete(DEMO, HTTP_IF_MATCH='"0123"', **operator).status_code == 412
    assert client.delete(DEMO, HTTP_IF_MATCH=imported, **operator).status_code == 204
    assert not Api.objects.exists()
    assert client.get(DEMO, **operator).status_code == 404


def test_the_collection_filters_and_orders(
    client: APIClient, organization: Organization, operator: dict[str, str], demo_yaml: bytes
) -> None:
    for version in ("1.0.0", "2.0.0"):
        body = demo_yaml.replace(b"  version: 1.0.0\n", f"  version: {version}\n".encode())
        assert client.post(APIS, body, content_type="application/yaml", **operator).status_code == 201
    listed = client.get(f"{APIS}?ordering=-version", **operator).json()
    assert listed["count"] == 2
    assert [a["version"] for a in listed["results"]] == ["2.0.0", "1.0.0"]
    only = client.get(f"{APIS}?version=1.0.0", **operator).json()
    assert [a["version"] for a in only["results"]] == ["1.0.0"]


def test_roles_auditors_read_signers_and_strangers_do_not(
    client: APIClient,
    imported: str,
    make_key: MakeKey,
    auditor: dict[str, str],
    jwt_keyprofile: KeyProfile,
    signer: dict[str, str],
    other_organization: Organization,
    demo_yaml: bytes,
) -> None:
    assert client.get(APIS, **auditor).status_code == 200
    assert client.get(DEMO, **auditor).status_code == 200
    assert client.post(APIS, demo_yaml, content_type="application/yaml", **auditor).status_code == 403
    replaced = client.put(DEMO, demo_yaml, content_type="application/yaml", HTTP_IF_MATCH=imported, **auditor)
    assert replaced.status_code == 403
    assert client.delete(DEMO, **auditor).status_code == 403
    assert client.get(APIS, **signer).status_code == 403
    assert client.get(DEMO, **signer).status_code == 403
    stranger = bearer(make_key("operator", organization=other_organization))
    assert client.get(DEMO, **stranger).status_code == 404
    assert client.get("/api/v1/orgs/other/apis/jwt-generation-and-validation/1.0.0", **stranger).status_code == 404
    anonymous = client.get(DEMO)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")


def test_publishing_compiles_against_the_catalog_and_answers_the_publication(
    client: APIClient, imported: str, operator: dict[str, str], sandbox: Catalog, jwt_keyprofile: KeyProfile
) -> None:
    answer = client.post(f"{DEMO}/publish", {"catalog": "sandbox"}, format="json", **operator)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["api"], body["catalog"], body["state"], body["revision"]) == (
        "jwt-generation-and-validation",
        "sandbox",
        "published",
        1,
    )
    assert body["gateway_path"] == "/personal/sandbox/securetoken"
    assert AuditEvent.objects.filter(action="api.publish", outcome="success").count() == 1


def test_a_publish_refusal_names_the_policy_and_the_property(
    client: APIClient, imported: str, operator: dict[str, str], sandbox: Catalog
) -> None:
    # The twin of the test above: no key profile is enabled in sandbox, so jws-crypto names nothing.
    answer = client.post(f"{DEMO}/publish", {"catalog": "sandbox"}, format="json", **operator)
    assert answer.status_code == 400
    problem = answer.json()
    assert problem["code"] == "invalid_policy"
    assert "jwt-generate policy 'jwt-generate', property 'jws-crypto'" in problem["detail"]
    assert list(problem["errors"]) == ["jwt-generate.jws-crypto"]
    assert not Publication.objects.exists()
    assert AuditEvent.objects.filter(action="api.publish", outcome="failure").count() == 1


def test_publishing_to_an_unknown_catalog_or_a_taken_base_path_is_refused(
    client: APIClient,
    imported: str,
    operator: dict[str, str],
    sandbox: Catalog,
    jwt_keyprofile: KeyProfile,
    demo_yaml: bytes,
) -> None:
    unknown = client.post(f"{DEMO}/publish", {"catalog": "nowhere"}, format="json", **operator)
    assert unknown.status_code == 400
    assert "catalog" in unknown.json()["errors"]
    assert client.post(f"{DEMO}/publish", {"catalog": "sandbox"}, format="json", **operator).status_code == 200
    other = demo_yaml.replace(b"x-ibm-name: jwt-generation-and-validation", b"x-ibm-name: other-api")
    assert client.post(APIS, other, content_type="application/yaml", **operator).status_code == 201
    clash = client.post(f"{APIS}/other-api/1.0.0/publish", {"catalog": "sandbox"}, format="json", **operator)
    assert clash.status_code == 409
    assert clash.json()["code"] == "base_path_taken"


def test_only_operators_publish(
    client: APIClient, imported: str, auditor: dict[str, str], operator: dict[str, str], jwt_keyprofile: KeyProfile
) -> None:
    assert client.post(f"{DEMO}/publish", {"catalog": "sandbox"}, format="json", **auditor).status_code == 403
    assert client.post(f"{DEMO}/publish", {"catalog": "sandbox"}, format="json", **operator).status_code == 200


def test_the_schema_describes_documents_as_json_and_yaml(client: APIClient, organization: Organization) -> None:
    paths = client.get("/api/v1/schema?format=json").json()["paths"]
    create = paths["/api/v1/orgs/{org}/apis"]["post"]
    assert set(create["requestBody"]["content"]) == {"application/json", "application/yaml", "text/yaml"}
    read = paths["/api/v1/orgs/{org}/apis/{name}/{version}"]["get"]
    assert set(read["responses"]["200"]["content"]) == {"application/json", "application/yaml"}
    replace = paths["/api/v1/orgs/{org}/apis/{name}/{version}"]["put"]
    assert {"412", "428"} <= set(replace["responses"])
    assert any(p["name"] == "If-Match" and p["in"] == "header" for p in replace["parameters"])
    version = next(p for p in read["parameters"] if p["name"] == "version")
    assert version["schema"]["pattern"] == r"^[0-9]+\.[0-9]+\.[0-9]+$"
