"""tokens.policies: the registry (one module per kind, defaults in its schema) and the one assembly walker."""

from __future__ import annotations

from typing import Any

import pytest

from tokens import editor
from tokens.documents import Operation
from tokens.errors import PublishError
from tokens.forms import POLICY_FORMS
from tokens.policies import jwt_generate, jwt_validate
from tokens.policies.registry import KNOWN_UNSUPPORTED, POLICY_KINDS, addable_kinds, policy_kind
from tokens.policies.walker import assembly_walk
from tokens.runtime import CatalogCryptoResolver

from .helpers import compile_policies


def _throw(title: str) -> dict[str, Any]:
    return {"throw": {"title": title, "name": "E"}}


# Every place a policy can be: top level, a verb-and-path case, an operationId case, otherwise, both catches.
ASSEMBLY: dict[str, Any] = {
    "execute": [
        _throw("top"),
        {
            "operation-switch": {
                "title": "route",
                "case": [
                    {"operations": [{"verb": "get", "path": "/a"}], "execute": [_throw("by path")]},
                    {"operations": ["getB"], "execute": [_throw("by id")]},
                ],
                "otherwise": [_throw("other")],
            }
        },
    ],
    "catch": [{"errors": ["E"], "execute": [_throw("caught")]}, {"default": [_throw("default")]}],
}


def test_the_walk_visits_every_policy_at_any_depth_with_its_address_and_place() -> None:
    visits = [(v.title, v.at, v.where) for v in assembly_walk(ASSEMBLY)]
    assert visits == [
        ("top", "execute/0", "execute[0]"),
        ("route", "execute/1", "execute[1]"),
        ("by path", "execute/1/case/0/0", "execute[1].case[0].execute[0]"),
        ("by id", "execute/1/case/1/0", "execute[1].case[1].execute[0]"),
        ("other", "execute/1/otherwise/0", "execute[1].otherwise[0]"),
        ("caught", "catch/0/0", "catch[0].execute[0]"),
        ("default", "catch/1/0", "catch[1].default[0]"),
    ]
    # The editor's addresses are the walk's: each one names the policy the walk met there.
    document = {"x-ibm-configuration": {"assembly": ASSEMBLY}}
    for visit in assembly_walk(ASSEMBLY):
        assert editor.policy_get(document, visit.at) == (visit.kind, visit.config)


@pytest.mark.parametrize(
    ("operation", "runs"),
    [
        (Operation("GET", "/a", None), ["top", "route", "by path"]),
        (Operation("GET", "/b", "getB"), ["top", "route", "by id"]),
        (Operation("GET", "/c", None), ["top", "route", "other"]),
    ],
)
def test_the_walk_for_one_operation_takes_the_branch_the_gateway_runs(operation: Operation, runs: list[str]) -> None:
    assert [v.title for v in assembly_walk(ASSEMBLY, operation=operation, catches=False)] == runs


def test_the_walk_passes_over_what_is_not_a_policy_and_changes_nothing() -> None:
    assembly = {"execute": ["junk", {"a": {}, "b": {}}, {"throw": "no mapping"}, _throw("kept")], "catch": "x"}
    assert [(v.kind, v.config, v.at) for v in assembly_walk(assembly)] == [
        ("throw", {}, "execute/2"),
        ("throw", {"title": "kept", "name": "E"}, "execute/3"),
    ]
    assert assembly["execute"][2] == {"throw": "no mapping"}


def test_each_registered_kind_has_its_console_form_and_unsupported_kinds_are_not_registered() -> None:
    assert set(POLICY_FORMS) == set(POLICY_KINDS)
    assert all(POLICY_FORMS[kind].policy is POLICY_KINDS[kind] for kind in POLICY_KINDS)
    assert not KNOWN_UNSUPPORTED & set(POLICY_KINDS)
    assert policy_kind("proxy") is None
    # Each form field sets a property its kind's schema names.
    for kind, form in POLICY_FORMS.items():
        assert set(form.property_fields().values()) <= set(POLICY_KINDS[kind].properties), kind
    assert POLICY_FORMS["jwt-validate"].property_fields()["jti_replay_check"] == "jti-replay-check"
    # operation-switch comes with a new API; the editor adds the others.
    assert set(addable_kinds()) == set(POLICY_KINDS) - {"operation-switch"}


def test_a_new_policy_starts_with_the_values_its_schema_writes() -> None:
    assert jwt_generate.POLICY.new_properties() == {
        "jwt": "",
        "exp-claim": 3600,
        "jti-claim": False,
        "jws-alg": "RS256",
    }
    assert jwt_validate.POLICY.new_properties() == {
        "jwt": "request.headers.authorization",
        "output-claims": "decoded.claims",
    }
    # A fresh copy each time: editing one new policy's properties does not change the next one's.
    first = POLICY_KINDS["set-variable"].new_properties()
    first["actions"].append({"set": "x", "value": "1"})
    assert POLICY_KINDS["set-variable"].new_properties() == {"actions": []}


def test_defaults_are_read_from_the_schema_when_the_property_is_absent(bare_resolver: CatalogCryptoResolver) -> None:
    policy = jwt_validate.JwtValidate("v", {"jws-jwk": "keys"}, bare_resolver)
    assert (policy.source, policy.output, policy.leeway, policy.replay_check) == (
        "request.headers.authorization",
        "decoded.claims",
        0,
        False,
    )
    configured = jwt_validate.JwtValidate(
        "v", {"jws-jwk": "keys", "jwt": "t", "output-claims": "c", "leeway": 5, "jti-replay-check": True}, bare_resolver
    )
    assert (configured.source, configured.output, configured.leeway, configured.replay_check) == ("t", "c", 5, True)


def test_several_policies_the_portal_does_not_run_are_named_at_once(bare_resolver: CatalogCryptoResolver) -> None:
    with pytest.raises(PublishError) as one:
        compile_policies([{"proxy": {"title": "call"}}], bare_resolver)
    assert str(one.value).startswith("Policy 'call' of type 'proxy' (an APIC policy the portal does not run)")
    switch = {"operation-switch": {"case": [{"operations": ["x"], "execute": [{"xslt": {"title": "transform"}}]}]}}
    with pytest.raises(PublishError) as several:
        compile_policies([{"proxy": {"title": "call"}}, switch], bare_resolver, [{"default": [{"frob": {}}]}])
    message = str(several.value)
    assert message.startswith("3 policies the portal does not run are in the assembly: ")
    assert "'call' of type 'proxy' (an APIC policy the portal does not run) is in the assembly at execute[0]" in message
    assert "'transform' of type 'xslt' (an APIC policy the portal does not run) is in the assembly at " in message
    assert "execute[1].case[0].execute[0]" in message
    assert (
        "'frob' of type 'frob' (a policy type the portal does not run) is in the assembly at catch[0].default[0]"
        in message
    )
