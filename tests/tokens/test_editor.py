"""tokens.editor: the assembly editor's edits on plain documents, addressed as the editor shows them."""

from __future__ import annotations

import pytest

from tokens import editor
from tokens.documents import document_describe
from tokens.editor import EditorError

from .helpers import demo_document, new_api

SWITCH = "execute/0"
GENERATE_CASE = "execute/0/case/0"
VALIDATE_CASE = "execute/0/case/1"


def test_a_new_openapi_2_document_has_the_demo_shape() -> None:
    document = editor.document_new(new_api())

    description = document_describe(document)
    assert (document["swagger"], document["basePath"]) == ("2.0", "/securetoken")
    assert document["securityDefinitions"] == {
        "clientID": {"type": "apiKey", "in": "header", "name": "X-IBM-Client-Id"}
    }
    assert description.client_id_required
    assert not description.client_secret_required
    assert [(op.verb, op.path) for op in description.operations] == [("GET", "/generate"), ("GET", "/validate")]
    switch = document["x-ibm-configuration"]["assembly"]["execute"][0]["operation-switch"]
    assert [case["operations"] for case in switch["case"]] == [
        [{"verb": "get", "path": "/generate"}],
        [{"verb": "get", "path": "/validate"}],
    ]


def test_a_new_openapi_3_document_uses_servers_and_components() -> None:
    document = editor.document_new(new_api(openapi_version="3.0", client_secret=True))

    description = document_describe(document)
    assert document["openapi"] == "3.0.0"
    assert "swagger" not in document
    assert "basePath" not in document
    assert document["servers"] == [{"url": "/securetoken"}]
    assert set(document["components"]["securitySchemes"]) == {"clientID", "clientSecret"}
    assert document["security"] == [{"clientID": [], "clientSecret": []}]
    assert description.base_path == "/securetoken"
    assert description.client_id_required
    assert description.client_secret_required


def test_policies_are_added_with_unique_titles_moved_and_removed() -> None:
    document = editor.document_new(new_api())

    first = editor.policy_add(document, at=GENERATE_CASE, kind="set-variable")
    second = editor.policy_add(document, at=GENERATE_CASE, kind="set-variable")
    editor.policy_add(document, at=GENERATE_CASE, kind="jwt-generate")

    assert (first, second) == (f"{GENERATE_CASE}/0", f"{GENERATE_CASE}/1")
    titles = [next(iter(p.values()))["title"] for p in editor.policy_list(document, GENERATE_CASE)]
    assert titles == ["set-variable", "set-variable-2", "jwt-generate"]
    assert editor.policy_move(document, at=f"{GENERATE_CASE}/2", offset=-1) == f"{GENERATE_CASE}/1"
    assert editor.policy_move(document, at=f"{GENERATE_CASE}/0", offset=-1) == f"{GENERATE_CASE}/0"
    titles = [next(iter(p.values()))["title"] for p in editor.policy_list(document, GENERATE_CASE)]
    assert titles == ["set-variable", "jwt-generate", "set-variable-2"]
    assert editor.policy_remove(document, at=f"{GENERATE_CASE}/0") == "set-variable"
    assert [next(iter(p)) for p in editor.policy_list(document, GENERATE_CASE)] == ["jwt-generate", "set-variable"]


def test_an_update_sets_and_removes_properties_and_keeps_unknown_ones() -> None:
    document = demo_document()
    at = f"{GENERATE_CASE}/0"
    editor.policy_get(document, at)[1]["custom-kid-value-jws"] = "kid-1"

    editor.policy_update(document, at=at, properties={"exp-claim": 120, "sub-claim": "", "jws-alg": "RS512"})

    kind, config = editor.policy_get(document, at)
    assert kind == "jwt-generate"
    assert config["exp-claim"] == 120
    assert config["jws-alg"] == "RS512"
    assert "sub-claim" not in config
    assert config["custom-kid-value-jws"] == "kid-1"
    assert config["version"] == "2.0.0"


def test_catches_are_added_before_the_default_and_refused_twice() -> None:
    document = demo_document()
    document["x-ibm-configuration"]["assembly"]["catch"].append({"default": []})

    at = editor.catch_add(document, error="ConnectionError")

    assert at == "catch/1"
    catches = document["x-ibm-configuration"]["assembly"]["catch"]
    assert [c.get("errors") for c in catches] == [["RuntimeError"], ["ConnectionError"], None]
    with pytest.raises(EditorError, match="exists already"):
        editor.catch_add(document, error="RuntimeError")
    editor.catch_remove(document, index=1)
    assert len(catches) == 2


@pytest.mark.parametrize(
    "at", ["execute/9", "execute/0/case/7/0", "execute/0/nowhere/0", "catch/5/0", "elsewhere/0", "execute/x"]
)
def test_a_place_the_document_lacks_is_an_editor_error(at: str) -> None:
    with pytest.raises(EditorError):
        editor.policy_get(demo_document(), at)
