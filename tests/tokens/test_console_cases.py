"""The console's editor for what issue 13's APIs hold beyond single policies: the cases of switch and
operation-switch (added with a condition or an operation, removed after a confirmation that names how many
policies go), otherwise, the default catch, the JWE properties of jwt-generate and jwt-validate, and the
API's properties and activity logging. Through the Django test client; the editor's document functions are
tested in test_editor.py, the API shapes built with them end to end in test_console_shapes.py."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client

from portal.services import Actor
from tests.tokens.test_console import (
    CERT,
    GENERATE_CASE,
    KEY,
    VALIDATE_CASE,
    add_policy,
    api_url,
    auditor,
    created_api,
    generate_form,
    messages_of,
    operator,
    tag,
    validate_form,
)
from tests.tokens.test_console_invoke import invoke_form
from tokens import editor
from tokens.models import Api

__all__ = ["auditor", "created_api", "operator"]  # fixtures, used by name

SWITCH = "execute/0"


def cases_of(api: Api, at: str) -> list[Any]:
    api.refresh_from_db()
    cases: list[Any] = editor.policy_get(api.document, at)[1]["case"]
    return cases


def page(client: Client, api: Api) -> str:
    return client.get(api_url(api)).content.decode()


def add_case(client: Client, api: Api, at: str, **fields: str) -> Any:
    return client.post(api_url(api, "tokens_api_case_add"), {"tag": tag(api), "at": at, **fields}, follow=True)


def remove_case(client: Client, api: Api, at: str, **fields: str) -> Any:
    return client.post(api_url(api, "tokens_api_case_remove"), {"tag": tag(api), "at": at, **fields})


# -- switch -------------------------------------------------------------------------------------------------


def test_a_switch_gets_a_case_with_its_condition_and_an_otherwise(operator: Client, created_api: Api) -> None:
    at = add_policy(operator, created_api, GENERATE_CASE, "switch")
    html = page(operator, created_api)
    assert f'id="case-condition-policy-{at.replace("/", "-")}"' in html
    assert "Add otherwise" in html

    added = add_case(operator, created_api, at, condition="request.headers.x-tenant = 'acme'")
    assert added.redirect_chain[-1][0].endswith(f"#branch-{at.replace('/', '-')}-case-1")
    assert messages_of(added)[-1] == "Added a case when request.headers.x-tenant = 'acme'; add the policies it runs."
    otherwise = operator.post(api_url(created_api, "tokens_api_otherwise_add"), {"tag": tag(created_api), "at": at})
    assert otherwise.status_code == 302

    assert [case.get("condition", "otherwise") for case in cases_of(created_api, at)] == [
        "$httpVerb() = 'GET'",
        "request.headers.x-tenant = 'acme'",
        "otherwise",
    ]
    html = page(operator, created_api)
    assert "When request.headers.x-tenant = &#x27;acme&#x27;" in html
    assert "Add otherwise" not in html
    assert add_policy(operator, created_api, f"{at}/case/2", "set-variable") == f"{at}/case/2/0"


def test_a_condition_that_does_not_parse_adds_no_case(operator: Client, created_api: Api) -> None:
    at = add_policy(operator, created_api, GENERATE_CASE, "switch")

    refused = add_case(operator, created_api, at, condition="request.verb = ")
    empty = add_case(operator, created_api, at, condition="")

    assert messages_of(refused)[-1] == (
        "Nothing was changed: Condition: the condition ends where a value is expected (in 'request.verb =')."
    )
    assert "Give the new case a condition" in messages_of(empty)[-1]
    assert len(cases_of(created_api, at)) == 1


def test_removing_a_case_with_policies_asks_first_naming_how_many_go(operator: Client, created_api: Api) -> None:
    at = add_policy(operator, created_api, GENERATE_CASE, "switch")
    add_case(operator, created_api, at, condition="true")
    add_policy(operator, created_api, f"{at}/case/0", "throw")
    inner = add_policy(operator, created_api, f"{at}/case/0", "switch")  # holds one case, so 2 + 0 policies

    asked = remove_case(operator, created_api, f"{at}/case/0")
    html = asked.content.decode()
    assert asked.status_code == 200
    assert '<strong id="case-remove-count">2 policies</strong>' in html
    assert "“When $httpVerb() = &#x27;GET&#x27;” of “switch”" in html
    assert 'name="confirmed" value="on"' in html
    assert len(cases_of(created_api, at)) == 2  # asking removes nothing
    assert editor.policy_get(created_api.document, inner)[0] == "switch"

    confirmed = remove_case(operator, created_api, f"{at}/case/0", confirmed="on")
    assert confirmed.status_code == 302
    assert messages_of(operator.get(confirmed["Location"]))[-1] == (
        "Removed “When $httpVerb() = 'GET'” and its 2 policies from “switch”."
    )
    assert cases_of(created_api, at) == [{"condition": "true", "execute": []}]


def test_an_empty_case_goes_at_once_and_the_last_case_stays(operator: Client, created_api: Api) -> None:
    at = add_policy(operator, created_api, GENERATE_CASE, "switch")
    add_case(operator, created_api, at, condition="true")
    html = page(operator, created_api)
    assert html.count('aria-label="Remove the case When ') == 2

    removed = remove_case(operator, created_api, f"{at}/case/1")
    assert removed.status_code == 302
    assert 'aria-label="Remove the case When ' not in page(operator, created_api)  # the last one is not offered
    refused = remove_case(operator, created_api, f"{at}/case/0", confirmed="on")
    assert messages_of(operator.get(refused["Location"]))[-1] == (
        "“switch” needs at least one case; remove the switch policy instead."
    )
    assert len(cases_of(created_api, at)) == 1


def test_a_removal_confirmed_on_a_page_older_than_the_document_removes_nothing(
    operator: Client, created_api: Api
) -> None:
    at = add_policy(operator, created_api, GENERATE_CASE, "switch")
    add_case(operator, created_api, at, condition="true")
    add_policy(operator, created_api, f"{at}/case/1", "throw")
    asked = remove_case(operator, created_api, f"{at}/case/1")
    old_tag = re.search(r'name="tag" value="([^"]+)"', asked.content.decode()).group(1)  # type: ignore[union-attr]
    add_policy(operator, created_api, f"{at}/case/1", "log")  # the case changed meanwhile

    stale = operator.post(
        api_url(created_api, "tokens_api_case_remove"), {"tag": old_tag, "at": f"{at}/case/1", "confirmed": "on"}
    )

    assert "The API changed since this page was loaded" in messages_of(operator.get(stale["Location"]))[-1]
    assert len(cases_of(created_api, at)) == 2


# -- operation-switch -------------------------------------------------------------------------------------


def test_an_operation_switch_case_is_removed_and_added_back_for_its_operation(
    operator: Client, created_api: Api
) -> None:
    assert 'name="operation"' not in page(operator, created_api)  # every operation has its case

    assert remove_case(operator, created_api, VALIDATE_CASE).status_code == 302  # empty: no question
    html = page(operator, created_api)
    assert '<option value="GET /validate">GET /validate</option>' in html
    assert "Remove the case Case GET /generate" not in html  # the last case stays
    assert "Remove the case Otherwise" not in html  # an operation-switch keeps otherwise

    elsewhere = add_case(operator, created_api, SWITCH, operation="GET /elsewhere")
    added = add_case(operator, created_api, SWITCH, operation="GET /validate")

    assert "GET /elsewhere is not an operation of the API without a case" in messages_of(elsewhere)[-1]
    assert messages_of(added)[-1] == "Added a case for GET /validate; add the policies it runs."
    assert cases_of(created_api, SWITCH)[1] == {"operations": [{"verb": "get", "path": "/validate"}], "execute": []}


def test_an_auditor_sees_no_case_controls_and_cannot_post_them(
    auditor: Client, operator: Client, created_api: Api
) -> None:
    at = add_policy(operator, created_api, GENERATE_CASE, "switch")
    html = page(auditor, created_api)

    assert "Add case" not in html
    assert "Remove case" not in html
    assert add_case(auditor, created_api, at, condition="true").status_code == 403
    assert remove_case(auditor, created_api, VALIDATE_CASE).status_code == 403
    assert len(cases_of(created_api, SWITCH)) == 2


# -- catches ----------------------------------------------------------------------------------------------


def test_a_default_catch_is_added_once_and_holds_policies(operator: Client, created_api: Api) -> None:
    assert "Add default catch" in page(operator, created_api)

    operator.post(api_url(created_api, "tokens_api_catch_add"), {"tag": tag(created_api), "error": "ConnectionError"})
    added = operator.post(api_url(created_api, "tokens_api_catch_default_add"), {"tag": tag(created_api)})
    again = operator.post(api_url(created_api, "tokens_api_catch_default_add"), {"tag": tag(created_api)})
    assert "has a default catch already" in messages_of(operator.get(again["Location"]))[-1]
    policy = add_policy(operator, created_api, "catch/1", "gatewayscript")

    assert added["Location"].endswith("#catches")
    created_api.refresh_from_db()
    catches = created_api.document["x-ibm-configuration"]["assembly"]["catch"]
    assert [list(catch) for catch in catches] == [["errors", "execute"], ["default"]]
    assert policy == "catch/1/0"
    html = page(operator, created_api)
    assert "Default (any other error)" in html
    assert "Add default catch" not in html


# -- JWE properties -------------------------------------------------------------------------------------------


def test_jwt_generate_encrypts_with_a_crypto_object_chosen_in_its_form(operator: Client, created_api: Api) -> None:
    at = add_policy(operator, created_api, GENERATE_CASE, "jwt-generate")
    form = operator.get(api_url(created_api, "tokens_api_policy", at)).content.decode()
    assert 'name="jwe_crypto"' in form
    assert f'<option value="{CERT}">' in form
    assert '<option value="RSA-OAEP-256">' in form

    saved = operator.post(
        api_url(created_api, "tokens_api_policy", at),
        generate_form(created_api, jwe_crypto=CERT, jwe_alg="RSA-OAEP-256", jwe_enc="A256GCM"),
    )

    assert saved.status_code == 302
    created_api.refresh_from_db()
    config = editor.policy_get(created_api.document, at)[1]
    assert (config["jwe-crypto"], config["jwe-alg"], config["jwe-enc"]) == (CERT, "RSA-OAEP-256", "A256GCM")
    assert "jwe-jwk" not in config


def test_jwe_algorithms_without_a_key_or_a_key_without_algorithms_are_refused_beside_the_field(
    operator: Client, created_api: Api
) -> None:
    at = add_policy(operator, created_api, GENERATE_CASE, "jwt-generate")
    url = api_url(created_api, "tokens_api_policy", at)

    no_key = operator.post(url, generate_form(created_api, jwe_alg="RSA-OAEP-256"))
    no_enc = operator.post(url, generate_form(created_api, jwe_jwk="recipient.jwk", jwe_alg="RSA-OAEP-256"))

    assert re.search(r'id="id_jwe_alg_error" role="alert"><li>Encrypting needs a key', no_key.content.decode())
    assert re.search(r'id="id_jwe_enc_error" role="alert"><li>Choose an algorithm', no_enc.content.decode())
    created_api.refresh_from_db()
    assert "jwe-alg" not in editor.policy_get(created_api.document, at)[1]


def test_jwt_validate_decrypts_with_a_crypto_object_or_a_jwk_variable(operator: Client, created_api: Api) -> None:
    at = add_policy(operator, created_api, VALIDATE_CASE, "jwt-validate")
    url = api_url(created_api, "tokens_api_policy", at)

    assert operator.post(url, validate_form(created_api, jwe_crypto=KEY)).status_code == 302
    created_api.refresh_from_db()
    assert editor.policy_get(created_api.document, at)[1]["jwe-crypto"] == KEY
    assert operator.post(url, validate_form(created_api, jwe_crypto="", jwe_jwk="private.jwk")).status_code == 302
    created_api.refresh_from_db()
    config = editor.policy_get(created_api.document, at)[1]
    assert "jwe-crypto" not in config
    assert config["jwe-jwk"] == "private.jwk"


# -- properties and activity logging ----------------------------------------------------------------------


def settings_form(api: Api, rows: list[tuple[str, str, str]], **changes: str) -> dict[str, str]:
    data = {
        "tag": tag(api),
        "properties-TOTAL_FORMS": str(len(rows)),
        "properties-INITIAL_FORMS": "0",
        "properties-MIN_NUM_FORMS": "0",
        "properties-MAX_NUM_FORMS": "1000",
        "enabled": "on",
        "success_content": "activity",
        "error_content": "payload",
        **changes,
    }
    for index, (name, value, description) in enumerate(rows):
        data.update(
            {
                f"properties-{index}-name": name,
                f"properties-{index}-value": value,
                f"properties-{index}-description": description,
            }
        )
    return data


def test_properties_and_activity_logging_are_set_on_the_settings_page(operator: Client, created_api: Api) -> None:
    url = api_url(created_api, "tokens_api_settings")
    assert 'href="' + url + '"' in page(operator, created_api)

    saved = operator.post(
        url,
        settings_form(
            created_api,
            [("target-url", "https://orders.example.com", "the order service"), ("", "", "")],
            success_content="header",
        ),
    )

    assert saved.status_code == 302
    created_api.refresh_from_db()
    configuration = created_api.document["x-ibm-configuration"]
    assert configuration["properties"] == {
        "target-url": {"value": "https://orders.example.com", "description": "the order service"}
    }
    assert configuration["activity-log"] == {"enabled": True, "success-content": "header", "error-content": "payload"}
    html = page(operator, created_api)
    assert "<code>$(target-url)</code> = <code>https://orders.example.com</code>" in html
    assert "success: header, errors: payload" in html
    form = operator.get(url).content.decode()
    assert 'value="https://orders.example.com"' in form


def test_saving_only_properties_writes_no_activity_log_and_keeps_a_property_entrys_other_keys(
    operator: Client, created_api: Api, actor: Actor
) -> None:
    declared = {"retries": {"value": 3, "encoded": False}}
    editor.api_document_edit(
        api=created_api,
        edit=lambda document: document["x-ibm-configuration"].update(properties=declared),
        tag=None,
        actor=actor,
    )

    operator.post(
        api_url(created_api, "tokens_api_settings"),
        settings_form(created_api, [("retries", "3", ""), ("backend", "$(api.org.name).example", "")]),
    )

    created_api.refresh_from_db()
    configuration = created_api.document["x-ibm-configuration"]
    assert "activity-log" not in configuration
    assert configuration["properties"] == {
        "retries": {"value": 3, "encoded": False},
        "backend": {"value": "$(api.org.name).example"},
    }


def test_a_property_that_would_hide_a_context_variable_or_appears_twice_is_refused(
    operator: Client, created_api: Api
) -> None:
    url = api_url(created_api, "tokens_api_settings")

    hidden = operator.post(url, settings_form(created_api, [("request.path", "/x", "")]))
    twice = operator.post(url, settings_form(created_api, [("a", "1", ""), ("a", "2", "")]))
    # Twin: a plain name is kept.
    plain = operator.post(url, settings_form(created_api, [("a", "1", "")]))

    assert "would hide the context variable of the same name" in hidden.content.decode()
    assert "Each property name may appear once." in twice.content.decode()
    assert plain.status_code == 302
    created_api.refresh_from_db()
    assert created_api.document["x-ibm-configuration"]["properties"] == {"a": {"value": "1"}}


def test_an_auditor_cannot_open_the_settings_page(auditor: Client, created_api: Api) -> None:
    assert auditor.get(api_url(created_api, "tokens_api_settings")).status_code == 403


# -- invoke's credentials, proxy headers and stop-on-error ----------------------------------------------------


def test_invoke_credentials_proxy_headers_and_stop_on_error_are_set_in_its_form(
    operator: Client, created_api: Api
) -> None:
    at = add_policy(operator, created_api, GENERATE_CASE, "invoke")
    url = api_url(created_api, "tokens_api_policy", at)

    saved = operator.post(
        url,
        invoke_form(
            created_api,
            username="$(backend-user)",
            password="$(backend-password)",
            inject_proxy_headers="on",
            stop_on_error="OperationError, ConnectionError",
        ),
    )

    assert saved.status_code == 302
    created_api.refresh_from_db()
    config = editor.policy_get(created_api.document, at)[1]
    assert (config["username"], config["password"]) == ("$(backend-user)", "$(backend-password)")
    assert config["inject-proxy-headers"] is True
    assert config["stop-on-error"] == ["OperationError", "ConnectionError"]
    assert 'value="OperationError, ConnectionError"' in operator.get(url).content.decode()
    operator.post(url, invoke_form(created_api))  # unticked and emptied: the properties go
    created_api.refresh_from_db()
    assert not {"username", "inject-proxy-headers", "stop-on-error"} & set(
        editor.policy_get(created_api.document, at)[1]
    )


def test_an_invoke_username_without_password_or_a_bad_error_name_is_refused_beside_the_field(
    operator: Client, created_api: Api
) -> None:
    at = add_policy(operator, created_api, GENERATE_CASE, "invoke")
    url = api_url(created_api, "tokens_api_policy", at)

    lone = operator.post(url, invoke_form(created_api, username="svc")).content.decode()
    bad = operator.post(url, invoke_form(created_api, stop_on_error="Operation Error")).content.decode()

    assert re.search(r'id="id_password_error" role="alert"><li>Username and password go together', lone)
    assert re.search(r'id="id_stop_on_error_error" role="alert"><li>Use an error name', bad)
