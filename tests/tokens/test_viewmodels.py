"""tokens.viewmodels: what the console's pages show, built from documents (the editor's outline, the test
page's operations)."""

from __future__ import annotations

from tokens import editor, viewmodels

from .helpers import demo_document, new_api

VALIDATE_CASE = "execute/0/case/1"


def test_the_outline_shows_cases_in_order_and_unsupported_policies_by_title_and_type() -> None:
    document = demo_document()
    editor.policy_list(document, VALIDATE_CASE).insert(0, {"proxy": {"title": "legacy-script"}})

    outline = viewmodels.assembly_outline(document)

    switch = outline.execute.policies[0]
    assert (switch.kind, [b.label for b in switch.branches]) == (
        "operation-switch",
        ["Case GET /generate", "Case GET /validate", "Otherwise"],
    )
    validate = switch.branches[1].policies
    assert [(p.kind, p.title, p.runs) for p in validate] == [
        ("proxy", "legacy-script", False),
        ("jwt-validate", "jwt-validate", True),
        ("set-variable", "set-variable", True),
    ]
    assert (validate[0].first, validate[-1].last) == (True, True)
    assert [c.label for c in outline.catches] == ["Catch RuntimeError"]


def test_the_outline_offers_the_case_actions_the_editor_accepts() -> None:
    document = editor.document_new(new_api())
    at = editor.policy_add(document, at="execute/0/case/0", kind="switch")
    editor.catch_default_add(document)

    outline = viewmodels.assembly_outline(document)

    operation_switch = outline.execute.policies[0]
    assert operation_switch.cases == viewmodels.CaseControls(by_condition=False, free_operations=())
    assert [(b.label, b.removable) for b in operation_switch.branches] == [
        ("Case GET /generate", True),
        ("Case GET /validate", True),
        ("Otherwise", False),  # an operation-switch keeps its otherwise
    ]
    switch = operation_switch.branches[0].policies[0]
    assert switch.at == at
    assert switch.cases == viewmodels.CaseControls(by_condition=True, can_add_otherwise=True)
    assert [(b.label, b.removable) for b in switch.branches] == [("When $httpVerb() = 'GET'", False)]  # the last
    assert outline.has_default_catch

    editor.switch_otherwise_add(document, at=at)
    editor.case_remove(document, at="execute/0/case/1")
    outline = viewmodels.assembly_outline(document)

    operation_switch = outline.execute.policies[0]
    assert operation_switch.cases == viewmodels.CaseControls(by_condition=False, free_operations=("GET /validate",))
    assert [b.removable for b in operation_switch.branches] == [False, False]
    switch = operation_switch.branches[0].policies[0]
    assert not switch.cases.can_add_otherwise  # type: ignore[union-attr]
    assert [(b.label, b.removable) for b in switch.branches] == [
        ("When $httpVerb() = 'GET'", False),
        ("Otherwise", True),
    ]


def test_the_test_page_prefills_the_demo_headers() -> None:
    generate, validate = viewmodels.operations_for_test(demo_document())

    assert (generate.label, generate.headers, generate.makes_token) == (
        "GET /generate",
        (("iss-claim", "apic"), ("aud-claim", "id1")),
        True,
    )
    assert (validate.label, validate.token_header, validate.headers) == (
        "GET /validate",
        "Authorization",
        (("Authorization", ""),),
    )
