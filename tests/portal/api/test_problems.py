"""Every error under /api/ is an RFC 9457 problem document with a stable code, never HTML."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from keyprofiles.models import KeyProfile
from portal import selectors
from portal.api.parsers import MAX_JSON_BYTES, MAX_JSON_DEPTH
from portal.models import ApiKey, Organization
from tests.api import MakeKey, bearer

KEYS = "/api/v1/orgs/personal/api-keys"


def problem_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:keyprofile-portal:problem:{code}"
    assert body["title"]
    assert body["detail"]
    return body


def test_401(client: APIClient, organization: Organization) -> None:
    problem_of(client.get(KEYS), 401, "not_authenticated")


def test_403_an_auditor_cannot_write_but_reads(client: APIClient, make_key: MakeKey) -> None:
    auditor = bearer(make_key("auditor"))
    problem_of(client.post(KEYS, {"name": "x", "role": "auditor"}, format="json", **auditor), 403, "permission_denied")
    assert client.get(KEYS, **auditor).status_code == 200


def test_403_a_signer_cannot_manage_keys(client: APIClient, make_key: MakeKey, signer_keyprofile: KeyProfile) -> None:
    signer = bearer(make_key("signer"))
    problem_of(client.get(KEYS, **signer), 403, "permission_denied")
    assert client.get("/api/v1/orgs/personal", **signer).status_code == 200


def test_404_unknown_api_path_is_a_problem_not_a_page(client: APIClient, organization: Organization) -> None:
    problem_of(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert client.get("/api/v1/schema").status_code == 200


def test_404_unknown_object(client: APIClient, make_key: MakeKey) -> None:
    operator = bearer(make_key("operator", name="ci"))
    problem_of(client.get(f"{KEYS}/nobody", **operator), 404, "not_found")
    assert client.get(f"{KEYS}/ci", **operator).status_code == 200


def test_405(client: APIClient, make_key: MakeKey) -> None:
    operator = bearer(make_key())
    problem_of(client.delete("/api/v1/orgs/personal", **operator), 405, "method_not_allowed")


def test_400_names_each_field_at_fault(client: APIClient, make_key: MakeKey) -> None:
    operator = bearer(make_key())
    body = problem_of(client.post(KEYS, {"name": "", "role": "king"}, format="json", **operator), 400, "blank")
    assert set(body["errors"]) == {"name", "role"}
    assert client.post(KEYS, {"name": "ok", "role": "auditor"}, format="json", **operator).status_code == 201


def test_400_a_model_rule_from_full_clean_is_a_field_error(
    client: APIClient, make_key: MakeKey, signer_keyprofile: KeyProfile
) -> None:
    operator = bearer(make_key())
    body = problem_of(client.post(KEYS, {"name": "s", "role": "signer"}, format="json", **operator), 400, "invalid")
    assert "profiles" in body["errors"]
    signer = {"name": "s", "role": "signer", "profiles": ["jwt-keyprofile"]}
    assert client.post(KEYS, signer, format="json", **operator).status_code == 201


def test_400_a_signer_key_naming_an_unknown_profile_names_it_and_the_known_ones(
    client: APIClient, make_key: MakeKey, signer_keyprofile: KeyProfile
) -> None:
    operator = bearer(make_key())
    typo = {"name": "s", "role": "signer", "profiles": ["jwt-keyprofle"]}
    body = problem_of(client.post(KEYS, typo, format="json", **operator), 400, "invalid")
    assert body["errors"] == {"profiles": ["Unknown key profile(s) jwt-keyprofle in personal; known: jwt-keyprofile."]}
    spelt_right = {"name": "s", "role": "signer", "profiles": ["jwt-keyprofile"]}
    assert client.post(KEYS, spelt_right, format="json", **operator).status_code == 201


def test_400_an_auditor_key_with_a_signer_option_is_refused_naming_it(client: APIClient, make_key: MakeKey) -> None:
    operator = bearer(make_key())
    body = problem_of(
        client.post(KEYS, {"name": "a", "role": "auditor", "allow_iss": "apic"}, format="json", **operator),
        400,
        "invalid",
    )
    assert body["errors"] == {"allow_iss": ["Only a signer key takes allow_iss; an auditor key would ignore it."]}
    assert client.post(KEYS, {"name": "a", "role": "auditor"}, format="json", **operator).status_code == 201


def test_409_name_taken(client: APIClient, make_key: MakeKey) -> None:
    operator = bearer(make_key(name="ci"))
    problem_of(client.post(KEYS, {"name": "ci", "role": "auditor"}, format="json", **operator), 409, "name_taken")
    assert client.post(KEYS, {"name": "ci-2", "role": "auditor"}, format="json", **operator).status_code == 201


def test_400_malformed_json(client: APIClient, make_key: MakeKey) -> None:
    operator = bearer(make_key())
    problem_of(client.post(KEYS, "{nope", content_type="application/json", **operator), 400, "parse_error")


def test_400_an_integer_of_5000_digits_is_named_as_such(client: APIClient, make_key: MakeKey) -> None:
    operator = bearer(make_key())
    huge = '{"name": "x", "role": "auditor", "n": ' + "9" * 5000 + "}"
    body = problem_of(client.post(KEYS, huge, content_type="application/json", **operator), 400, "parse_error")
    assert body["detail"] == "The JSON body holds an integer longer than 100 digits."
    assert "set_int_max_str_digits" not in json.dumps(body)


def test_an_integer_of_100_digits_is_parsed(client: APIClient, make_key: MakeKey) -> None:
    """The twin: an integer at the limit (negative, so the sign does not count) is an ordinary value."""
    operator = bearer(make_key())
    long = '{"name": "x", "role": "auditor", "n": -' + "9" * 100 + "}"
    assert client.post(KEYS, long, content_type="application/json", **operator).status_code == 201


def test_400_json_nested_too_deeply_and_its_twin(client: APIClient, make_key: MakeKey) -> None:
    operator = bearer(make_key())
    deep = '{"name": "x", "role": "auditor", "p": ' + "[" * 100_000 + "]" * 100_000 + "}"
    body = problem_of(client.post(KEYS, deep, content_type="application/json", **operator), 400, "parse_error")
    assert body["detail"] == f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep."
    shallow = '{"name": "x", "role": "auditor", "p": ' + "[" * 10 + "]" * 10 + "}"
    assert client.post(KEYS, shallow, content_type="application/json", **operator).status_code == 201


def test_413_body_too_large(client: APIClient, make_key: MakeKey) -> None:
    operator = bearer(make_key())
    big = '{"name": "x", "role": "auditor", "pad": "' + "a" * MAX_JSON_BYTES + '"}'
    problem_of(client.post(KEYS, big, content_type="application/json", **operator), 413, "payload_too_large")
    assert not ApiKey.objects.filter(name="x").exists()


def test_415_unsupported_media_type(client: APIClient, make_key: MakeKey) -> None:
    operator = bearer(make_key())
    problem_of(client.post(KEYS, "name=x", content_type="text/plain", **operator), 415, "unsupported_media_type")


def test_problems_stay_json_when_a_browser_asks_for_html(client: APIClient, organization: Organization) -> None:
    response = client.get(KEYS, HTTP_ACCEPT="text/html")
    problem_of(response, 401, "not_authenticated")


def test_an_unexpected_error_is_a_500_problem_without_a_traceback(
    make_key: MakeKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator = bearer(make_key())

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(selectors, "api_key_list", broken)
    client = APIClient(raise_request_exception=False)
    body = problem_of(client.get(KEYS, **operator), 500, "server_error")
    assert "secret internals" not in body["detail"]


def test_a_500_outside_drf_under_api_is_a_problem_too(
    monkeypatch: pytest.MonkeyPatch, organization: Organization
) -> None:
    from portal import views

    response = views.server_error(Client().get("/api/v1/x").wsgi_request)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"


# -- the one mapping of domain errors ----------------------------------------------------------------------


def handled(error: Exception) -> tuple[int, dict[str, Any]]:
    from portal.api.problems import problem_exception_handler

    response = problem_exception_handler(error, {})
    return response.status_code, response.data


def test_a_domain_error_is_400_with_its_code_and_field() -> None:
    from portal.errors import PortalError

    status, body = handled(PortalError("The key is too small.", code="rsa_key_too_small", field="private_key"))
    assert status == 400
    assert body["code"] == "rsa_key_too_small"
    assert body["errors"] == {"private_key": ["The key is too small."]}


def test_a_conflicting_domain_error_is_409() -> None:
    from tokens.errors import PublishError

    status, body = handled(PublishError("The base path is taken.", code="base_path_taken", conflict=True))
    assert (status, body["code"]) == (409, "base_path_taken")
    status, body = handled(PublishError("Unsupported policy invoke."))
    assert (status, body["code"]) == (400, "publish_refused")


def test_existing_domain_errors_carry_stable_codes() -> None:
    from keyprofiles.keymaterial import KeyMaterialError
    from keyprofiles.sealing import SealingError
    from tokens.errors import DocumentError, PolicyConfigError
    from tokens.rotation import RotationError

    assert handled(KeyMaterialError("Wrong password.", code="wrong_password", field="password"))[1]["code"] == (
        "wrong_password"
    )
    assert handled(DocumentError("Not YAML."))[1]["code"] == "invalid_document"
    assert handled(PolicyConfigError("Bad alg.", policy="jwt-generate", prop="jws-alg"))[1]["code"] == "invalid_policy"
    assert handled(RotationError("No active version."))[1]["code"] == "rotation_refused"
    assert handled(SealingError("Unknown master key."))[1]["code"] == "sealed_box_unreadable"


def test_a_validation_error_in_use_is_409_and_a_plain_one_400() -> None:
    from django.core.exceptions import ValidationError

    status, body = handled(ValidationError("Keystore 'k' is used by key profile p.", code="in_use"))
    assert (status, body["code"]) == (409, "in_use")
    status, body = handled(ValidationError({"name": "Use lower-case letters."}))
    assert (status, body["code"], body["errors"]) == (400, "invalid", {"name": ["Use lower-case letters."]})


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/orgs/personal",
        "/api/v1/orgs/personal/catalogs",
        "/api/v1/orgs/personal/keystores",
        "/api/v1/orgs/personal/api-keys/ci/revoke",
    ],
)
def test_options_describes_the_media_types_without_a_500(make_key: MakeKey, path: str) -> None:
    client = APIClient(raise_request_exception=False)
    response = client.options(path, **bearer(make_key()))
    assert response.status_code == 200
    assert "application/json" in response.json()["parses"]
    assert client.options(path).status_code == 401
