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


# -- the cases of switch and operation-switch, and the default catch --------------------------------------


def switch_document() -> tuple[dict[str, object], str]:
    """A new API whose generate case holds a switch (its new case) with one policy in that case."""
    document = editor.document_new(new_api())
    at = editor.policy_add(document, at=GENERATE_CASE, kind="switch")
    editor.policy_add(document, at=f"{at}/case/0", kind="set-variable")
    return document, at


def test_a_switch_case_is_added_before_otherwise_and_otherwise_once() -> None:
    document, at = switch_document()

    assert editor.switch_otherwise_add(document, at=at) == f"{at}/case/1"
    assert editor.switch_case_add(document, at=at, condition="request.headers.x-tenant = 'acme'") == f"{at}/case/1"

    cases = editor.policy_get(document, at)[1]["case"]
    assert [case.get("condition", "otherwise") for case in cases] == [
        "$httpVerb() = 'GET'",
        "request.headers.x-tenant = 'acme'",
        "otherwise",
    ]
    assert editor.policy_list(document, f"{at}/case/1") == []
    with pytest.raises(EditorError, match="has an otherwise already"):
        editor.switch_otherwise_add(document, at=at)


def test_a_switch_with_the_v5_otherwise_property_gets_no_second_otherwise() -> None:
    document, at = switch_document()
    editor.policy_get(document, at)[1]["otherwise"] = []

    with pytest.raises(EditorError, match="has an otherwise already"):
        editor.switch_otherwise_add(document, at=at)
    removal = editor.case_remove(document, at=f"{at}/otherwise")

    assert removal.label == "Otherwise"
    assert "otherwise" not in editor.policy_get(document, at)[1]


def test_removing_a_case_takes_its_policies_at_any_depth_and_counts_them() -> None:
    document, at = switch_document()
    editor.switch_case_add(document, at=at, condition="true")
    inner = editor.policy_add(document, at=f"{at}/case/0", kind="switch")  # a switch in the case, holding one
    editor.policy_add(document, at=f"{inner}/case/0", kind="throw")

    removal = editor.case_removal(document, at=f"{at}/case/0")
    assert (removal.label, removal.switch_title, removal.policies) == ("When $httpVerb() = 'GET'", "switch", 3)
    assert len(editor.policy_get(document, at)[1]["case"]) == 2  # asking changes nothing
    assert editor.case_remove(document, at=f"{at}/case/0") == removal

    (case,) = editor.policy_get(document, at)[1]["case"]
    assert case == {"condition": "true", "execute": []}
    assert editor.assembly_titles(document) == {"operation-switch", "switch"}


def test_the_last_case_with_a_condition_stays_but_otherwise_may_go() -> None:
    document, at = switch_document()
    editor.switch_otherwise_add(document, at=at)

    with pytest.raises(EditorError, match="needs at least one case; remove the switch policy instead"):
        editor.case_remove(document, at=f"{at}/case/0")
    assert editor.case_remove(document, at=f"{at}/case/1").policies == 0

    assert [list(case) for case in editor.policy_get(document, at)[1]["case"]] == [["condition", "execute"]]


def test_an_operation_switch_case_names_an_operation_without_one() -> None:
    document = editor.document_new(new_api())
    editor.policy_add(document, at=VALIDATE_CASE, kind="throw")

    with pytest.raises(EditorError, match="GET /validate is not an operation of the API without a case"):
        editor.operation_case_add(document, at=SWITCH, verb="GET", path="/validate")
    assert editor.case_remove(document, at=VALIDATE_CASE).policies == 1
    assert [f"{op.verb} {op.path}" for op in editor.operations_without_case(document, switch_config(document))] == [
        "GET /validate"
    ]
    assert editor.operation_case_add(document, at=SWITCH, verb="get", path="/validate") == VALIDATE_CASE

    assert switch_config(document)["case"][1] == {"operations": [{"verb": "get", "path": "/validate"}], "execute": []}
    assert editor.operations_without_case(document, switch_config(document)) == []
    with pytest.raises(EditorError, match="not an operation of the API"):
        editor.operation_case_add(document, at=SWITCH, verb="GET", path="/elsewhere")


def switch_config(document: dict[str, object]) -> dict[str, object]:
    return editor.policy_get(document, SWITCH)[1]


@pytest.mark.parametrize(
    ("at", "problem"),
    [
        (f"{SWITCH}/otherwise", "keeps its otherwise"),
        (f"{SWITCH}/case/5", "has no case"),
        (f"{GENERATE_CASE}", "needs at least one case"),
        ("execute/0", "does not name a case"),
        ("catch/0", "does not name a case"),
    ],
)
def test_cases_that_cannot_go_are_refused_by_name(at: str, problem: str) -> None:
    document = editor.document_new(new_api())
    editor.case_remove(document, at=VALIDATE_CASE)  # one case left

    with pytest.raises(EditorError, match=problem):
        editor.case_remove(document, at=at)


def test_case_edits_on_a_policy_without_cases_are_refused() -> None:
    document = editor.document_new(new_api())
    at = editor.policy_add(document, at=GENERATE_CASE, kind="throw")

    with pytest.raises(EditorError, match="only switch and operation-switch policies have cases"):
        editor.switch_case_add(document, at=at, condition="true")
    with pytest.raises(EditorError, match="names an operation, not a condition"):
        editor.switch_case_add(document, at=SWITCH, condition="true")
    with pytest.raises(EditorError, match="always has an otherwise"):
        editor.switch_otherwise_add(document, at=SWITCH)


def test_the_default_catch_is_added_last_and_once() -> None:
    document = demo_document()

    assert editor.catch_default_add(document) == "catch/1"
    editor.policy_add(document, at="catch/1", kind="set-variable")
    assert editor.catch_add(document, error="ConnectionError") == "catch/1"  # before the default

    catches = document["x-ibm-configuration"]["assembly"]["catch"]
    assert [c.get("errors") for c in catches] == [["RuntimeError"], ["ConnectionError"], None]
    assert [next(iter(p)) for p in catches[2]["default"]] == ["set-variable"]
    with pytest.raises(EditorError, match="has a default catch already"):
        editor.catch_default_add(document)
