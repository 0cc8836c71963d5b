"""The switch policy's conditions (tokens/conditions.py): JSONata as the API gateway writes it, and the
v5-compatible gateway's $(name) references with JavaScript operators."""

from __future__ import annotations

import pytest

from tokens.conditions import MAX_NESTING, ConditionError, condition_compile, condition_holds
from tokens.context import Context
from tokens.documents import Operation


@pytest.fixture
def context() -> Context:
    context = Context(verb="POST", path="/orders/7", headers={"X-Tenant": "acme", "Content-Type": "application/json"})
    context.set("api.operation", Operation("POST", "/orders/{id}", "createOrder"))
    context.set("decoded.claims", {"sub": "ann", "roles": ["admin", "ops"], "level": 3})
    context.set("message.status.code", 201)
    return context


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ("$httpVerb() = 'POST'", True),
        ("$httpVerb() = 'GET'", False),
        ("$operationID() = 'createOrder'", True),
        ("$operationPath() = '/orders/{id}'", True),
        ("request.headers.x-tenant = 'acme'", True),
        ("request.headers.`content-type` = 'application/json'", True),
        ("request.headers.x-tenant != 'acme'", False),
        ("decoded.claims.sub = 'ann' and decoded.claims.level >= 3", True),
        ("decoded.claims.level > 3 or decoded.claims.sub = 'bob'", False),
        ("'admin' in decoded.claims.roles", True),
        ("message.status.code = 201", True),
        ("message.status.code = '201'", False),  # JSONata: a number never equals a string
        ("$exists(request.headers.x-tenant)", True),
        ("$exists(request.headers.absent)", False),
        ("$not($exists(request.headers.absent))", True),
        ("request.headers.absent = 'x'", False),
        ("request.parameters.id = '7'", True),
        ("$contains(request.headers.x-tenant, 'cm')", True),
        ("$lowercase('ACME') = request.headers.x-tenant", True),
        ("request.verb & ' ' & request.path = 'POST /orders/7'", True),
        ("($httpVerb() = 'GET' or $httpVerb() = 'POST') and true", True),
        # the v5-compatible gateway's way of writing the same
        ("$(request.verb) === 'POST'", True),
        ("$(request.headers.x-tenant) == 'acme' && $(decoded.claims.sub) !== 'bob'", True),
        ("!($(request.verb) == 'POST') || false", False),
        ("$startsWith($(request.path), '/orders/')", True),
    ],
)
def test_conditions_read_the_context(context: Context, condition: str, holds: bool) -> None:
    assert condition_holds(condition_compile(condition), context) is holds


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ("", "empty"),
        ("request.verb = ", "ends where a value is expected"),
        ("(request.verb = 'GET'", r"expected '\)'"),
        ("request.verb = 'GET' 'x'", "unexpected 'x'"),
        ("$eval('1')", r"\$eval\(\) is not a function"),
        ("$exists()", "takes 1 argument"),
        ("request.verb # 1", "cannot read the condition at character 14"),
        ("(" * (MAX_NESTING + 1) + "true" + ")" * (MAX_NESTING + 1), "nests more than"),
        ("x" * 2001, "longer than"),
    ],
)
def test_a_condition_that_does_not_parse_says_why(condition: str, problem: str) -> None:
    with pytest.raises(ConditionError, match=problem):
        condition_compile(condition)


def test_nesting_up_to_the_limit_parses(context: Context) -> None:
    deep = "(" * (MAX_NESTING - 1) + "true" + ")" * (MAX_NESTING - 1)  # the value itself is a level
    assert condition_holds(condition_compile(deep), context)
