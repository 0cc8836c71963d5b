"""seed_demo --apis N --apps M (tokens.demo_load): load for the gateway, written in bulk but valid (issue 14)."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.models import AuditEvent, Catalog
from tests.commands import refused, run
from tokens.demo import DemoSummary
from tokens.management.commands.seed_demo import Command
from tokens.models import Api, ApiPropertyValue, ConsumerApp, Publication
from tokens.runtime.catalog_state import catalog_state_build
from tokens.services import SANDBOX_TEST_APP


@pytest.fixture(autouse=True)
def _no_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.delenv("PORTAL_ADMIN_PASSWORD", raising=False)


def generate(client: Client, client_id: str, base_path: str) -> int:
    headers = {"X-IBM-Client-Id": client_id, "iss-claim": "apic", "aud-claim": "id1"}
    return client.get(f"/personal/sandbox{base_path}/generate", headers=headers).status_code


def test_apis_and_apps_are_published_and_subscribed_and_served(demo: DemoSummary, client: Client) -> None:
    output = run("seed_demo", "--apis", "3", "--apps", "4")

    assert "Load ready in sandbox: 3 APIs (3 new), 4 apps (4 new)." in output.stdout
    publications = Publication.objects.filter(api__name__startswith="demo-load-").order_by("base_path")
    assert [p.base_path for p in publications] == ["/demo-load-00001", "/demo-load-00002", "/demo-load-00003"]
    assert {p.state for p in publications} == {Publication.State.PUBLISHED}
    apps = ConsumerApp.objects.filter(name__startswith="Demo Load App ").order_by("name")
    assert [app.subscriptions.count() for app in apps] == [2, 2, 2, 2]
    assert ConsumerApp.objects.get(name=SANDBOX_TEST_APP).subscriptions.count() == 4  # the demo's API too
    app = apps[0]
    subscribed = app.subscriptions.get(base_path="/demo-load-00001")
    other = publications.exclude(pk__in=app.subscriptions.all()).first()
    assert other is not None
    assert generate(client, app.client_id, subscribed.base_path) == 200
    assert generate(client, app.client_id, other.base_path) == 401  # not subscribed: refused
    assert generate(client, demo.client_id, "/demo-load-00003") == 200
    assert AuditEvent.objects.filter(action="demo.load").count() == 1


def test_a_second_run_creates_only_what_is_missing(demo: DemoSummary) -> None:
    run("seed_demo", "--apis", "2", "--apps", "2")

    output = run("seed_demo", "--apis", "3", "--apps", "2")

    assert "3 APIs (1 new), 2 apps (0 new)" in output.stdout
    assert Api.objects.filter(name__startswith="demo-load-").count() == 3


def test_apps_without_apis_to_subscribe_to_are_refused(demo: DemoSummary) -> None:
    assert "give --apis N too" in refused("seed_demo", "--apps", "2")
    assert not ConsumerApp.objects.filter(name__startswith="Demo Load App ").exists()


@pytest.mark.parametrize("value", ["-1", "many", "100001", "٣"])
def test_a_count_that_is_not_a_whole_number_in_range_is_refused(demo: DemoSummary, value: str) -> None:
    assert "is not a whole number from 0 to 100000" in refused("seed_demo", "--apis", value)


def test_the_help_documents_the_load_options() -> None:
    parser = Command().create_parser("manage.py", "seed_demo")

    text = " ".join(parser.format_help().split())

    assert "--apis N Also publish N copies of the demo API in sandbox" in text
    assert "--apps M Also create M consumer apps in sandbox, each subscribed to two of those APIs" in text


# -- --properties: each load API reads its own property value -------------------------------------------------


def tenant_answered(client: Client, client_id: str, base_path: str) -> tuple[int, str | None]:
    headers = {"X-IBM-Client-Id": client_id, "iss-claim": "apic", "aud-claim": "id1"}
    response = client.get(f"/personal/sandbox{base_path}/generate", headers=headers)
    return response.status_code, response.headers.get("X-Tenant")


def load_assemblies() -> set[int]:
    """The distinct compiled assemblies (shared policies) serving the load's APIs in a fresh sandbox build."""
    state = catalog_state_build(Catalog.objects.get(organization__slug="personal", slug="sandbox"))
    return {id(route.assembly.policies) for route in state.routes if route.api.startswith("demo-load-")}


def test_with_properties_half_the_values_are_the_documents_and_half_the_operators(demo: DemoSummary) -> None:
    output = run("seed_demo", "--apis", "4", "--properties")

    assert "Load ready in sandbox: 4 APIs (4 new), 0 apps (0 new), 2 new operator property values." in output.stdout
    rows = ApiPropertyValue.objects.filter(api__name__startswith="demo-load-").order_by("api__name")
    assert [(row.api.name, row.catalog.slug, row.name, row.value) for row in rows] == [
        ("demo-load-00002", "sandbox", "tenant", "tenant-00002"),
        ("demo-load-00004", "sandbox", "tenant", "tenant-00004"),
    ]
    load_apis = Api.objects.filter(name__startswith="demo-load-")
    declared = {api.name: api.document["x-ibm-configuration"]["properties"]["tenant"] for api in load_apis}
    assert declared["demo-load-00001"]["value"] == "tenant-00001"
    assert "value" not in declared["demo-load-00002"]
    audit = AuditEvent.objects.get(action="demo.load")
    assert audit.detail["property_values_created"] == 2


def test_each_call_answers_with_its_own_apis_value_and_the_demos_answers_unchanged(
    demo: DemoSummary, client: Client
) -> None:
    run("seed_demo", "--apis", "2", "--properties")

    assert tenant_answered(client, demo.client_id, "/demo-load-00001") == (200, "tenant-00001")  # document's
    assert tenant_answered(client, demo.client_id, "/demo-load-00002") == (200, "tenant-00002")  # operator's
    assert tenant_answered(client, demo.client_id, "/securetoken") == (200, None)  # the demo's own API: as it was
    headers = {"X-IBM-Client-Id": demo.client_id, "iss-claim": "apic", "aud-claim": "id1"}
    token = client.get("/personal/sandbox/demo-load-00002/generate", headers=headers).headers["Authorization"]
    validated = client.get(
        "/personal/sandbox/demo-load-00002/validate",
        headers={"X-IBM-Client-Id": demo.client_id, "Authorization": token},
    )
    assert validated.status_code == 200
    assert validated.json()["iss"] == "apic"
    assert validated.headers["X-Tenant"] == "tenant-00002"


def test_with_properties_a_second_run_creates_only_what_is_missing(demo: DemoSummary) -> None:
    run("seed_demo", "--apis", "4", "--properties")

    output = run("seed_demo", "--apis", "6", "--properties")

    assert "6 APIs (2 new), 0 apps (0 new), 1 new operator property values" in output.stdout
    assert ApiPropertyValue.objects.filter(api__name__startswith="demo-load-").count() == 3
    again = run("seed_demo", "--apis", "6", "--properties")
    assert "6 APIs (0 new), 0 apps (0 new), 0 new operator property values" in again.stdout


def test_with_properties_the_build_shares_no_assembly_across_distinct_values(demo: DemoSummary) -> None:
    run("seed_demo", "--apis", "6", "--properties")

    assert len(load_assemblies()) == 6


def test_without_properties_the_copies_share_one_assembly(demo: DemoSummary) -> None:
    run("seed_demo", "--apis", "6")

    assert len(load_assemblies()) == 1


@pytest.mark.parametrize(("first", "second"), [((), ("--properties",)), (("--properties",), ())])
def test_a_load_of_the_other_shape_is_refused(
    demo: DemoSummary, first: tuple[str, ...], second: tuple[str, ...]
) -> None:
    run("seed_demo", "--apis", "2", *first)

    message = refused("seed_demo", "--apis", "3", *second)

    assert "Its APIs are kept as they are: seed a fresh database, or repeat the first run's options." in message
    assert Api.objects.filter(name__startswith="demo-load-").count() == 2


def test_apps_alone_may_be_added_to_a_load_with_properties(demo: DemoSummary) -> None:
    run("seed_demo", "--apis", "2", "--properties")

    output = run("seed_demo", "--apps", "3")

    assert "2 APIs (0 new), 3 apps (3 new)" in output.stdout


def test_properties_without_apis_are_refused(demo: DemoSummary) -> None:
    assert "give --apis N too" in refused("seed_demo", "--properties")


def test_the_help_documents_the_properties_option() -> None:
    parser = Command().create_parser("manage.py", "seed_demo")

    text = " ".join(parser.format_help().split())

    assert "--properties With --apis: each copy declares the API property 'tenant'" in text
