"""The gateway compiles each publication in its API's scope (DESIGN.md 3a): the API's own variables, its
properties' values in the catalog it is published in, and the app a call was admitted for.

A property value set or cleared by an operator recompiles that publication only, in every process; a value
the API would not run with is refused and nothing is stored.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from keyprofiles.models import KeyProfile
from portal.models import Catalog
from portal.services import Actor
from tests.tokens.helpers import KEY_OBJECT, answer, api_document
from tokens.checks import check_publications
from tokens.models import Api, ApiPropertyValue, Publication
from tokens.properties import api_property_clear, api_property_set
from tokens.runtime import Route, catalog_state_build, gateway
from tokens.services import SANDBOX_TEST_APP, api_publish, api_save

pytestmark = pytest.mark.usefixtures("recheck_always")


def published(
    catalog: Catalog,
    actor: Actor,
    *,
    name: str,
    execute: list[dict[str, Any]],
    properties: dict[str, Any] | None = None,
    client_id: bool = True,
) -> Api:
    """An API answering ``execute`` at /<name>/go, published in ``catalog``; without ``client_id``, open to anyone."""
    document = api_document(name=name, base_path=f"/{name}", execute=execute)
    if properties is not None:
        document["x-ibm-configuration"]["properties"] = {key: {"value": value} for key, value in properties.items()}
    if not client_id:
        del document["security"], document["securityDefinitions"]
    api, _ = api_save(organization=catalog.organization, document=document, actor=actor)
    api_publish(api=api, catalog=catalog, actor=actor)
    return api


def client_id_of(catalog: Catalog) -> str:
    return str(catalog.apps.get(name=SANDBOX_TEST_APP).client_id)


def body(client: Client, catalog: Catalog, path: str, **headers: str) -> str:
    response = client.get(f"/personal/{catalog.slug}{path}", headers=headers)
    assert response.status_code == 200, response.content
    return response.content.decode()


def route(catalog: Catalog, path: str) -> Route:
    state = gateway.catalog_state("personal", catalog.slug)
    assert state is not None
    found = state.route_for(path)
    assert found is not None
    return found[0]


# -- the API's own variables ------------------------------------------------------------------------------


def test_a_call_sees_the_apis_name_version_catalog_organization_and_plan(
    sandbox: Catalog, actor: Actor, client: Client
) -> None:
    text = "$(api.name) $(api.version) $(api.catalog.name) $(api.org.name) $(plan.name)"
    published(sandbox, actor, name="whoami", execute=[answer(text)])

    answered = body(client, sandbox, "/whoami/go", **{"X-IBM-Client-Id": client_id_of(sandbox)})

    assert answered == "whoami 1.0.0 sandbox personal default-plan"


def test_a_call_sees_the_app_it_was_admitted_for(sandbox: Catalog, actor: Actor, client: Client) -> None:
    published(sandbox, actor, name="app", execute=[answer("$(client.app.id) $(client.app.name)")])
    client_id = client_id_of(sandbox)

    assert body(client, sandbox, "/app/go", **{"X-IBM-Client-Id": client_id}) == f"{client_id} {SANDBOX_TEST_APP}"


def test_an_api_that_checks_no_client_id_names_no_app_whatever_the_caller_sends(
    sandbox: Catalog, actor: Actor, client: Client
) -> None:
    published(sandbox, actor, name="open", execute=[answer("[$(client.app.id)]")], client_id=False)

    assert body(client, sandbox, "/open/go", **{"X-IBM-Client-Id": client_id_of(sandbox)}) == "[]"


# -- properties per catalog ---------------------------------------------------------------------------------


def test_one_document_answers_each_catalogs_value(
    sandbox: Catalog, production: Catalog, actor: Actor, client: Client
) -> None:
    api = published(
        sandbox, actor, name="where", execute=[answer("$(backend)")], properties={"backend": "doc"}, client_id=False
    )
    api_publish(api=api, catalog=production, actor=actor)
    api_property_set(api=api, catalog=production, name="backend", value="https://prod", actor=actor)

    assert body(client, sandbox, "/where/go") == "doc"
    assert body(client, production, "/where/go") == "https://prod"


def test_an_operators_value_recompiles_that_publication_only_and_clearing_it_restores_the_documents(
    sandbox: Catalog, actor: Actor, client: Client
) -> None:
    api = published(
        sandbox, actor, name="greet", execute=[answer("$(greeting)")], properties={"greeting": "hi"}, client_id=False
    )
    published(sandbox, actor, name="bystander", execute=[answer("here")], client_id=False)
    assert body(client, sandbox, "/greet/go") == "hi"
    bystander = route(sandbox, "/bystander/go")

    api_property_set(api=api, catalog=sandbox, name="greeting", value="hello", actor=actor)
    assert body(client, sandbox, "/greet/go") == "hello"
    assert route(sandbox, "/bystander/go") is bystander  # not recompiled

    assert api_property_clear(api=api, catalog=sandbox, name="greeting", actor=actor)
    assert body(client, sandbox, "/greet/go") == "hi"
    assert route(sandbox, "/bystander/go") is bystander


def test_a_value_read_per_call_follows_the_request(sandbox: Catalog, actor: Actor, client: Client) -> None:
    published(
        sandbox,
        actor,
        name="region",
        execute=[answer("$(region-url)")],
        properties={"region-url": "https://$(request.parameters.region).example.com"},
        client_id=False,
    )

    assert body(client, sandbox, "/region/go?region=eu") == "https://eu.example.com"
    assert body(client, sandbox, "/region/go?region=us") == "https://us.example.com"


def signing_api(catalog: Catalog, actor: Actor, crypto_object: str) -> Api:
    generate = {"jwt-generate": {"title": "sign", "jws-crypto": "$(signing-key)", "jws-alg": "RS256"}}
    return published(
        catalog,
        actor,
        name="signer",
        execute=[generate, answer("$(generated.jwt)")],
        properties={"signing-key": crypto_object},
        client_id=False,
    )


def test_a_value_the_api_would_not_run_with_is_refused_and_nothing_is_stored(
    sandbox: Catalog, actor: Actor, client: Client, jwt_keyprofile: KeyProfile
) -> None:
    api = signing_api(sandbox, actor, KEY_OBJECT)
    assert body(client, sandbox, "/signer/go").count(".") == 2

    with pytest.raises(ValidationError) as refused:
        api_property_set(api=api, catalog=sandbox, name="signing-key", value="no-such-key", actor=actor)

    assert "no-such-key" in refused.value.message_dict["value"][0]
    assert not ApiPropertyValue.objects.exists()
    assert body(client, sandbox, "/signer/go").count(".") == 2  # still served as before


def test_clearing_a_value_the_api_needs_is_refused(
    sandbox: Catalog, actor: Actor, client: Client, jwt_keyprofile: KeyProfile
) -> None:
    generate = {"jwt-generate": {"title": "sign", "jws-crypto": "$(signing-key)", "jws-alg": "RS256"}}
    document = api_document(name="signer", base_path="/signer", execute=[generate, answer("$(generated.jwt)")])
    document["x-ibm-configuration"]["properties"] = {"signing-key": {"description": "set per catalog"}}
    del document["security"], document["securityDefinitions"]
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_property_set(api=api, catalog=sandbox, name="signing-key", value=KEY_OBJECT, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)

    with pytest.raises(ValidationError) as refused:
        api_property_clear(api=api, catalog=sandbox, name="signing-key", actor=actor)

    assert "would not run" in refused.value.message_dict["name"][0]
    assert ApiPropertyValue.objects.filter(name="signing-key").exists()
    assert body(client, sandbox, "/signer/go").count(".") == 2


def test_the_system_check_compiles_each_publication_with_its_catalogs_values(
    sandbox: Catalog, actor: Actor, jwt_keyprofile: KeyProfile
) -> None:
    api = signing_api(sandbox, actor, KEY_OBJECT)
    assert check_publications(databases=["default"]) == []

    # A value the API cannot run with, written behind the services' back (a restored backup, say).
    ApiPropertyValue.objects.create(api=api, catalog=sandbox, name="signing-key", value="gone")

    (error,) = check_publications(databases=["default"])
    assert error.id == "tokens.E001"
    assert "gone" in error.msg


# -- cost ------------------------------------------------------------------------------------------------------


def test_a_catalog_with_property_values_builds_in_the_same_queries_whatever_its_number_of_apis(
    sandbox: Catalog, actor: Actor
) -> None:
    def build_queries() -> int:
        catalog = Catalog.objects.select_related("organization").get(pk=sandbox.pk)  # as the gateway reads it
        with CaptureQueriesContext(connection) as queries:
            catalog_state_build(catalog)
        return len(queries.captured_queries)

    def add(number: int) -> None:
        api = published(sandbox, actor, name=f"p{number}", execute=[answer("$(x)")], properties={"x": "doc"})
        api_property_set(api=api, catalog=sandbox, name="x", value=str(number), actor=actor)

    add(0)
    with_one = build_queries()
    for number in range(1, 5):
        add(number)

    assert build_queries() == with_one


def test_publications_with_one_assembly_and_equal_constant_values_share_their_compiled_policies(
    sandbox: Catalog, actor: Actor, client: Client
) -> None:
    for name in ("twin-a", "twin-b"):
        published(sandbox, actor, name=name, execute=[answer("$(api.name) $(x)")], properties={"x": "same"})
    client_id = client_id_of(sandbox)

    assert body(client, sandbox, "/twin-a/go", **{"X-IBM-Client-Id": client_id}) == "twin-a same"
    assert body(client, sandbox, "/twin-b/go", **{"X-IBM-Client-Id": client_id}) == "twin-b same"
    assert route(sandbox, "/twin-a/go").assembly.policies is route(sandbox, "/twin-b/go").assembly.policies
    assert Publication.objects.count() == 2


def test_a_property_the_assembly_never_reads_does_not_keep_publications_from_sharing(
    sandbox: Catalog, actor: Actor
) -> None:
    for name, unread in (("quiet-a", "one"), ("quiet-b", "two")):
        published(sandbox, actor, name=name, execute=[answer("$(x)")], properties={"x": "same", "unread": unread})
    published(sandbox, actor, name="loud", execute=[answer("$(x)")], properties={"x": "other"})
    state = catalog_state_build(Catalog.objects.select_related("organization").get(pk=sandbox.pk))

    def policies(base_path: str) -> Any:
        found = state.route_for(f"{base_path}/go")
        assert found is not None
        return found[0].assembly.policies

    assert policies("/quiet-a") is policies("/quiet-b")
    assert policies("/loud") is not policies("/quiet-a")  # a value it reads differs
