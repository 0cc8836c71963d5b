"""seed_demo --apis N --apps M (tokens.demo_load): load for the gateway, written in bulk but valid (issue 14)."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.models import AuditEvent
from tests.commands import refused, run
from tokens.demo import DemoSummary
from tokens.management.commands.seed_demo import Command
from tokens.models import Api, ConsumerApp, Publication
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
