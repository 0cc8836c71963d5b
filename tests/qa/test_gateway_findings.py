"""QA findings against the gateway (outside-in review after issue 9). Each failing test is marked
``xfail(strict=True)`` so main stays green; it turns into a pass (and so an XPASS failure) once fixed. Each has
a passing twin that differs in one thing."""

from __future__ import annotations

from typing import Any

import pytest

from portal.models import Catalog
from portal.services import Actor
from tests.tokens.helpers import api_document
from tests.wsgi import wsgi_call
from tokens.demo import DemoSummary
from tokens.errors import PolicyConfigError, PublishError
from tokens.services import api_publish, api_save

SESSION_COOKIE = "sessionid=s3ss10n; csrftoken=csrf"


def publish(sandbox: Catalog, actor: Actor, actions: list[dict[str, Any]]) -> None:
    execute = [{"set-variable": {"title": "answer", "actions": actions}}]
    document = api_document(name="qa", base_path="/qa", paths=("/go",), execute=execute)
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)


def call(demo: DemoSummary, **headers: str) -> Any:
    return wsgi_call("/personal/sandbox/qa/go", headers={"X-IBM-Client-Id": demo.client_id, **headers})


# -- 1. the console's cookies reach the assembly ------------------------------------------------------------


def test_an_assembly_cannot_read_the_consoles_cookies(demo: DemoSummary, sandbox: Catalog, actor: Actor) -> None:
    publish(sandbox, actor, [{"set": "message.body", "value": "[$(request.headers.cookie)]", "type": "string"}])

    answer = call(demo, Cookie=SESSION_COOKIE)

    assert answer.status == 200
    assert b"s3ss10n" not in answer.body


def test_an_assembly_reads_other_request_headers(demo: DemoSummary, sandbox: Catalog, actor: Actor) -> None:
    """The twin: the same API reads an ordinary header."""
    publish(sandbox, actor, [{"set": "message.body", "value": "[$(request.headers.x-note)]", "type": "string"}])

    answer = call(demo, **{"X-Note": "s3ss10n"})

    assert answer.status == 200
    assert answer.body == b"[s3ss10n]"


# -- 2. bad input from the caller is a 500 -----------------------------------------------------------------


def test_a_request_value_set_variable_cannot_convert_is_a_400(
    demo: DemoSummary, sandbox: Catalog, actor: Actor
) -> None:
    publish(sandbox, actor, [{"set": "message.body", "value": "$(request.headers.x-count)", "type": "number"}])

    answer = call(demo, **{"X-Count": "not a number"})

    assert answer.status == 400


def test_a_request_value_set_variable_converts_is_answered(demo: DemoSummary, sandbox: Catalog, actor: Actor) -> None:
    """The twin: a header that is a number."""
    publish(sandbox, actor, [{"set": "message.body", "value": "$(request.headers.x-count)", "type": "number"}])

    answer = call(demo, **{"X-Count": "42"})

    assert answer.status == 200
    assert answer.body == b"42"


# -- 3. a status code no HTTP answer can carry ---------------------------------------------------------------


def test_a_status_code_out_of_range_is_refused_at_publish(sandbox: Catalog, actor: Actor) -> None:
    with pytest.raises((PolicyConfigError, PublishError)):
        publish(sandbox, actor, [{"set": "message.status.code", "value": 1000, "type": "number"}])


def test_a_status_without_a_reason_gets_its_own_phrase(demo: DemoSummary, sandbox: Catalog, actor: Actor) -> None:
    publish(sandbox, actor, [{"set": "message.status.code", "value": 201, "type": "number"}])

    answer = call(demo)

    assert (answer.status, answer.reason) == (201, "Created")


def test_a_status_with_its_reason_is_answered(demo: DemoSummary, sandbox: Catalog, actor: Actor) -> None:
    """The twin: the reason set beside the code."""
    publish(
        sandbox,
        actor,
        [
            {"set": "message.status.code", "value": 201, "type": "number"},
            {"set": "message.status.reason", "value": "Created", "type": "string"},
        ],
    )

    answer = call(demo)

    assert (answer.status, answer.reason) == (201, "Created")


# -- 4. a body on a status that has none ---------------------------------------------------------------------


def test_a_204_answer_has_no_body(demo: DemoSummary, sandbox: Catalog, actor: Actor) -> None:
    publish(
        sandbox,
        actor,
        [
            {"set": "message.status.code", "value": 204, "type": "number"},
            {"set": "message.body", "value": "HTTP/1.1 200 OK", "type": "string"},
        ],
    )

    answer = call(demo)

    assert answer.status == 204
    assert answer.body == b""


def test_a_200_answer_has_its_body(demo: DemoSummary, sandbox: Catalog, actor: Actor) -> None:
    """The twin: the same body on a 200."""
    publish(
        sandbox,
        actor,
        [
            {"set": "message.status.code", "value": 200, "type": "number"},
            {"set": "message.body", "value": "HTTP/1.1 200 OK", "type": "string"},
        ],
    )

    answer = call(demo)

    assert answer.status == 200
    assert answer.body == b"HTTP/1.1 200 OK"


# -- 5. an assembly asking the browser for a password; an answer loaded as a script ---------------------------


@pytest.mark.parametrize(
    "challenge", ['Basic realm="console: sign in again"', 'Bearer realm="api", Digest realm="x"', "NTLM"]
)
def test_an_assembly_cannot_make_the_browser_prompt_for_a_password(
    demo: DemoSummary, sandbox: Catalog, actor: Actor, challenge: str
) -> None:
    publish(
        sandbox,
        actor,
        [
            {"set": "message.status.code", "value": 401, "type": "number"},
            {"set": "message.headers.WWW-Authenticate", "value": challenge, "type": "string"},
        ],
    )

    answer = call(demo)

    assert answer.status == 401
    assert "www-authenticate" not in {name.lower() for name in answer.headers}


def test_an_assembly_may_send_a_bearer_challenge(demo: DemoSummary, sandbox: Catalog, actor: Actor) -> None:
    """The twin: RFC 6750's challenge prompts nothing and passes."""
    publish(
        sandbox,
        actor,
        [
            {"set": "message.status.code", "value": 401, "type": "number"},
            {"set": "message.headers.WWW-Authenticate", "value": 'Bearer realm="api"', "type": "string"},
        ],
    )

    answer = call(demo)

    assert answer.headers["www-authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("destination", ["script", "style", "worker", "serviceworker"])
def test_a_browser_cannot_load_a_gateway_answer_as_a_script(
    demo: DemoSummary, sandbox: Catalog, actor: Actor, destination: str
) -> None:
    publish(sandbox, actor, [{"set": "message.body", "value": "alert(1)", "type": "string"}])

    answer = call(demo, **{"Sec-Fetch-Dest": destination})

    assert answer.status == 403
    assert b"alert" not in answer.body


@pytest.mark.parametrize("destination", ["document", "empty"])
def test_a_browser_may_open_or_fetch_a_gateway_answer(
    demo: DemoSummary, sandbox: Catalog, actor: Actor, destination: str
) -> None:
    """The twin: a page opened, or fetch()/XMLHttpRequest, is answered."""
    publish(sandbox, actor, [{"set": "message.body", "value": "alert(1)", "type": "string"}])

    answer = call(demo, **{"Sec-Fetch-Dest": destination})

    assert (answer.status, answer.body) == (200, b"alert(1)")


@pytest.mark.parametrize("code", [100, 101, 103])
def test_an_informational_status_is_refused_at_publish(sandbox: Catalog, actor: Actor, code: int) -> None:
    """1xx are interim answers: a client would keep waiting for the real one, or switch protocols."""
    with pytest.raises(PolicyConfigError, match="not a final HTTP status code"):
        publish(sandbox, actor, [{"set": "message.status.code", "value": code, "type": "number"}])


def test_an_informational_status_set_per_call_is_the_gateways_error(
    demo: DemoSummary, sandbox: Catalog, actor: Actor
) -> None:
    publish(sandbox, actor, [{"set": "message.status.code", "value": "$(request.headers.x-code)", "type": "any"}])

    interim = call(demo, **{"X-Code": "101"})
    final = call(demo, **{"X-Code": "202"})  # the twin

    assert interim.status == 500
    assert b"not a final HTTP status code" in interim.body
    assert final.status == 202
