"""The gateway runtime (tokens.runtime): routing by base path, and changes applied by their size.

One app's change patches that app only; one publication's change recompiles that publication only; a change
to one catalog's keys rebuilds that catalog only. A change is applied in the background while requests are
served from the state before it (issue 14).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import LazySettings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from keyprofiles import lifecycle
from keyprofiles.models import KeyProfile, KeyProfileBinding
from keyprofiles.services import keyprofile_enable
from portal import invalidation
from portal.models import Catalog
from portal.services import Actor
from tests.tokens.helpers import api_document, demo_variant
from tokens import views
from tokens.demo import DemoSummary, demo_seed
from tokens.models import ConsumerApp, Publication
from tokens.runtime import Gateway, Route, RouteTable, catalog_state_build, gateway, state_cache
from tokens.services import (
    api_publish,
    api_save,
    app_create,
    app_reset_client_id,
    app_reset_secret,
    publication_set_state,
)

GENERATE = "/personal/sandbox/securetoken/generate"


def publish(document: dict[str, Any], catalog: Catalog, actor: Actor) -> Publication:
    api, _ = api_save(organization=catalog.organization, document=document, actor=actor)
    return api_publish(api=api, catalog=catalog, actor=actor)


def generate(client: Client, client_id: str, path: str = GENERATE) -> int:
    headers = {"X-IBM-Client-Id": client_id, "iss-claim": "apic", "aud-claim": "id1"}
    return client.get(path, headers=headers).status_code


def route(organization: str, catalog: str, path: str) -> Route:
    state = gateway.catalog_state(organization, catalog)
    assert state is not None
    found = state.route_for(path)
    assert found is not None
    return found[0]


def tables_read(queries: CaptureQueriesContext) -> set[str]:
    return {table for query in queries.captured_queries for table in re.findall(r'FROM "(\w+)"', query["sql"])}


# -- routing ----------------------------------------------------------------------------------------------


def a_route(base_path: str, publication_id: int = 1) -> Route:
    return Route(
        publication_id=publication_id,
        api=f"api-{publication_id}",
        base_path=base_path,
        deprecated=False,
        operations=(),
        assembly=None,  # type: ignore[arg-type]  # routing never runs it
        client_id_required=True,
        client_secret_required=False,
    )


def test_the_route_is_found_by_its_base_path_and_the_rest_is_the_operation_path() -> None:
    table = RouteTable([a_route("/securetoken", 1), a_route("/other", 2)])

    assert table.route_for("/securetoken/generate") == (table.by_publication()[1], "/generate")
    assert table.route_for("/securetoken") == (table.by_publication()[1], "/")
    assert table.route_for("/securetoken/") == (table.by_publication()[1], "/")
    assert table.route_for("/other/a/b") == (table.by_publication()[2], "/a/b")


def test_a_base_path_matches_whole_segments_only() -> None:
    table = RouteTable([a_route("/secure", 1)])

    assert table.route_for("/securetoken/generate") is None
    assert table.route_for("/secure/token") == (table.by_publication()[1], "/token")


def test_the_longest_base_path_wins_when_base_paths_nest() -> None:
    table = RouteTable([a_route("/a", 1), a_route("/a/b", 2), a_route("/a/b/c/d", 3)])

    assert table.route_for("/a/b/x")[0].publication_id == 2  # type: ignore[index]
    assert table.route_for("/a/x")[0].publication_id == 1  # type: ignore[index]
    assert table.route_for("/a/b/c/x")[0].publication_id == 2  # type: ignore[index]
    assert table.route_for("/a/b/c/d/e") == (table.by_publication()[3], "/e")


def test_the_root_base_path_serves_every_path_no_other_base_path_claims() -> None:
    table = RouteTable([a_route("/", 1), a_route("/securetoken", 2)])

    assert table.route_for("/anything/else") == (table.by_publication()[1], "/anything/else")
    assert table.route_for("/securetoken/generate") == (table.by_publication()[2], "/generate")
    assert RouteTable([a_route("/securetoken", 2)]).route_for("/anything/else") is None


def test_a_new_table_replaces_the_routes_of_the_publications_named() -> None:
    table = RouteTable([a_route("/a", 1), a_route("/b", 2)])

    changed = table.with_routes(replaced=[1], added=[a_route("/moved", 1)])

    assert changed.route_for("/a/x") is None
    assert changed.route_for("/moved/x") == (changed.by_publication()[1], "/x")
    assert changed.by_publication()[2] is table.by_publication()[2]
    assert table.route_for("/a/x") is not None  # the table served meanwhile is left as it was


# -- changes applied by their size ---------------------------------------------------------------------------


@pytest.fixture
def two_catalogs(demo: DemoSummary, actor: Actor) -> tuple[Catalog, ConsumerApp]:
    """The demo in sandbox, and the same API served in production to an app of its own."""
    production = Catalog.objects.get(slug="production")
    profile = KeyProfile.objects.get(name="jwt-keyprofile")

    keyprofile_enable(profile=profile, catalog=production, actor=actor)
    document = demo_variant(name="jwt-generation-and-validation", base_path="/securetoken")
    document["x-ibm-configuration"] = _in_catalog(document["x-ibm-configuration"], "production")
    publication = publish(document, production, actor)
    app, _ = app_create(catalog=production, name="Production App", with_secret=True, actor=actor)
    app.subscriptions.add(publication)
    invalidation.bump_version(catalog_id=production.pk, client_id=app.client_id)
    return production, app


def _in_catalog(configuration: dict[str, Any], catalog: str) -> Any:
    return json.loads(json.dumps(configuration).replace("personal_sandbox_", f"personal_{catalog}_"))


@pytest.mark.usefixtures("recheck_always")
def test_one_apps_secret_reset_rebuilds_no_publication_and_no_other_catalog(
    two_catalogs: tuple[Catalog, ConsumerApp], demo: DemoSummary, actor: Actor, client: Client
) -> None:
    _, app = two_catalogs
    assert generate(client, demo.client_id) == 200
    assert generate(client, app.client_id, "/personal/production/securetoken/generate") == 200
    sandbox_before = gateway.catalog_state("personal", "sandbox")
    production_route = route("personal", "production", "/securetoken/generate")

    app_reset_secret(app=app, actor=actor)
    with CaptureQueriesContext(connection) as queries:
        production_after = gateway.catalog_state("personal", "production")

    assert gateway.catalog_state("personal", "sandbox") is sandbox_before
    assert route("personal", "production", "/securetoken/generate") is production_route
    assert "tokens_publication" not in tables_read(queries)
    assert "keyprofiles_cryptoobject" not in tables_read(queries)
    assert production_after is not None
    app.refresh_from_db()
    assert any(entry.secret_hash == app.client_secret_hash for entry in production_after.apps.values())


@pytest.mark.usefixtures("recheck_always")
def test_a_reset_client_id_is_refused_and_the_new_one_admitted_without_a_rebuild(
    demo: DemoSummary, actor: Actor, client: Client
) -> None:
    assert generate(client, demo.client_id) == 200
    served = route("personal", "sandbox", "/securetoken/generate")

    new_id = app_reset_client_id(app=ConsumerApp.objects.get(client_id=demo.client_id), actor=actor)

    assert (generate(client, demo.client_id), generate(client, new_id)) == (401, 200)
    assert route("personal", "sandbox", "/securetoken/generate") is served


@pytest.mark.usefixtures("recheck_always")
def test_one_publications_change_recompiles_that_publication_only(
    demo: DemoSummary, sandbox: Catalog, actor: Actor, client: Client
) -> None:
    other = publish(demo_variant(name="other-api", base_path="/other"), sandbox, actor)
    assert generate(client, demo.client_id) == 200
    demo_route = route("personal", "sandbox", "/securetoken/generate")
    other_route = route("personal", "sandbox", "/other/generate")

    publication_set_state(publication=other, state=Publication.State.DEPRECATED, actor=actor)

    assert route("personal", "sandbox", "/securetoken/generate") is demo_route
    deprecated = route("personal", "sandbox", "/other/generate")
    assert deprecated is not other_route
    assert deprecated.deprecated
    assert not other_route.deprecated


@pytest.mark.usefixtures("recheck_always")
def test_a_new_publication_in_sandbox_is_served_to_the_test_app_it_subscribes(
    demo: DemoSummary, sandbox: Catalog, actor: Actor, client: Client
) -> None:
    assert generate(client, demo.client_id) == 200
    demo_route = route("personal", "sandbox", "/securetoken/generate")

    publish(demo_variant(name="second-api", base_path="/second"), sandbox, actor)

    assert generate(client, demo.client_id, "/personal/sandbox/second/generate") == 200
    assert route("personal", "sandbox", "/securetoken/generate") is demo_route


@pytest.mark.usefixtures("recheck_always")
def test_a_new_version_published_replaces_the_version_it_retires(
    demo: DemoSummary, sandbox: Catalog, actor: Actor, client: Client
) -> None:
    publish(demo_variant(name="versioned-api", base_path="/versioned"), sandbox, actor)
    assert route("personal", "sandbox", "/versioned/generate").api == "versioned-api 1.0.0"
    second = demo_variant(name="versioned-api", base_path="/versioned")
    second["info"]["version"] = "2.0.0"

    publish(second, sandbox, actor)

    assert route("personal", "sandbox", "/versioned/generate").api == "versioned-api 2.0.0"
    assert generate(client, demo.client_id, "/personal/sandbox/versioned/generate") == 200
    state = gateway.catalog_state("personal", "sandbox")
    assert state is not None
    assert sorted(r.api for r in state.routes) == ["jwt-generation-and-validation 1.0.0", "versioned-api 2.0.0"]


@pytest.mark.usefixtures("recheck_always")
def test_a_retired_publication_stops_being_served_and_the_others_stay(
    demo: DemoSummary, sandbox: Catalog, actor: Actor, client: Client
) -> None:
    other = publish(demo_variant(name="other-api", base_path="/other"), sandbox, actor)
    assert generate(client, demo.client_id, "/personal/sandbox/other/generate") == 200

    publication_set_state(publication=other, state=Publication.State.RETIRED, actor=actor)

    assert generate(client, demo.client_id, "/personal/sandbox/other/generate") == 404
    assert generate(client, demo.client_id) == 200


@pytest.mark.usefixtures("recheck_always")
def test_a_change_to_one_catalogs_keys_rebuilds_that_catalog_only(
    two_catalogs: tuple[Catalog, ConsumerApp], demo: DemoSummary, actor: Actor, client: Client
) -> None:
    production, app = two_catalogs
    assert generate(client, demo.client_id) == 200
    assert generate(client, app.client_id, "/personal/production/securetoken/generate") == 200
    sandbox_before = gateway.catalog_state("personal", "sandbox")
    production_route = route("personal", "production", "/securetoken/generate")

    binding = KeyProfileBinding.objects.get(catalog=production)
    lifecycle.binding_transition(binding=binding, state=KeyProfileBinding.State.RETIRED, actor=actor)

    assert gateway.catalog_state("personal", "sandbox") is sandbox_before
    assert generate(client, app.client_id, "/personal/production/securetoken/generate") == 404
    assert route("personal", "sandbox", "/securetoken/generate") is not production_route


@pytest.mark.usefixtures("recheck_always")
def test_a_process_behind_more_changes_than_are_kept_rebuilds_what_it_holds(
    demo: DemoSummary, sandbox: Catalog, actor: Actor, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert generate(client, demo.client_id) == 200
    served = route("personal", "sandbox", "/securetoken/generate")
    monkeypatch.setattr(invalidation.GATEWAY, "changes", lambda *, after, upto: None)

    app_reset_secret(app=ConsumerApp.objects.get(client_id=demo.client_id), actor=actor)

    assert route("personal", "sandbox", "/securetoken/generate") is not served
    assert generate(client, demo.client_id) == 200


def test_a_catalog_builds_in_the_same_queries_whatever_its_number_of_publications(
    demo: DemoSummary, sandbox: Catalog, actor: Actor
) -> None:
    """One query for the catalog's crypto objects, not three per publication (issue 14)."""

    def build_queries() -> int:
        catalog = Catalog.objects.select_related("organization").get(pk=sandbox.pk)  # as the gateway reads it
        with CaptureQueriesContext(connection) as queries:
            catalog_state_build(catalog)
        return len(queries.captured_queries)

    with_one = build_queries()
    for number in range(4):
        publish(demo_variant(name=f"more-{number}", base_path=f"/more-{number}"), sandbox, actor)
    with_five = build_queries()

    assert len(catalog_state_build(sandbox).routes) == 5
    assert with_five == with_one


def test_a_cached_version_behind_the_row_changes_nothing(
    demo: DemoSummary, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert generate(client, demo.client_id) == 200
    served = route("personal", "sandbox", "/securetoken/generate")
    applied = gateway.serving_version()
    assert applied is not None
    monkeypatch.setattr(invalidation.GATEWAY, "current", lambda: applied - 1)  # a stale Redis copy

    assert gateway.refresh() is None
    assert route("personal", "sandbox", "/securetoken/generate") is served
    assert gateway.serving_version() == applied


def test_a_row_behind_what_was_applied_rebuilds_everything(
    demo: DemoSummary, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database restored from a backup: the process cannot know what changed, so it rebuilds."""
    assert generate(client, demo.client_id) == 200
    served = route("personal", "sandbox", "/securetoken/generate")
    applied = gateway.serving_version()
    assert applied is not None
    monkeypatch.setattr(invalidation.GATEWAY, "current", lambda: applied - 1)
    monkeypatch.setattr(invalidation.GATEWAY, "stored", lambda: applied - 1)

    report = gateway.refresh()

    assert report is not None
    assert report.rebuilt == 1
    assert route("personal", "sandbox", "/securetoken/generate") is not served
    assert gateway.serving_version() == applied - 1


def test_a_bump_records_what_it_changed(demo: DemoSummary, sandbox: Catalog, actor: Actor) -> None:
    before = invalidation.current_version()

    app_reset_secret(app=ConsumerApp.objects.get(client_id=demo.client_id), actor=actor)
    publish(api_document(name="one-more", base_path="/one-more"), sandbox, actor)

    changes = invalidation.GATEWAY.changes(after=before, upto=invalidation.current_version())
    assert changes is not None
    assert [(c.kind, c.catalog_id) for c in changes] == [("app", sandbox.pk), ("publications", sandbox.pk)]
    assert changes[1].target == str(Publication.objects.get(base_path="/one-more").pk)
    assert changes[0].target == demo.client_id


def test_a_bump_without_a_kind_of_change_is_a_programming_error(db: None) -> None:
    with pytest.raises(TypeError):
        invalidation.bump_version(catalog_id=1)


# -- no request waits on a refresh --------------------------------------------------------------------------


class Gate:
    """Holds the background refresh inside its work until the test opens it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()

    def wrap(self, work: Callable[..., Any]) -> Callable[..., Any]:
        def held(*args: Any, **kwargs: Any) -> Any:
            self.entered.set()
            assert self.opened.wait(timeout=30), "the test never opened the gate"
            return work(*args, **kwargs)

        return held


@pytest.fixture
def background_gateway(monkeypatch: pytest.MonkeyPatch, settings: LazySettings) -> Iterator[Gateway]:
    """A gateway that follows changes in its own thread, serving the calls of the Django test client."""
    worker = Gateway(background=True)
    monkeypatch.setattr(views, "gateway", worker)
    settings.PORTAL_INVALIDATION = {
        **settings.PORTAL_INVALIDATION,
        "RECHECK_SECONDS": 0.0,
    }  # the thread then looks every 50 ms
    yield worker
    worker.stop()


@pytest.mark.django_db(transaction=True)  # the refresh thread reads what the test committed
def test_a_request_during_a_refresh_is_served_from_the_previous_state(
    background_gateway: Gateway, actor: Actor, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = demo_seed(admin_password="x", actor=actor)
    sandbox = Catalog.objects.get(slug="sandbox")
    other = publish(demo_variant(name="other-api", base_path="/other"), sandbox, actor)
    assert generate(client, demo.client_id, "/personal/sandbox/other/generate") == 200
    gate = Gate()
    monkeypatch.setattr(state_cache, "publications_sync", gate.wrap(state_cache.publications_sync))
    refreshed = threading.Event()
    background_gateway.on_refresh.append(lambda report: refreshed.set())

    publication_set_state(publication=other, state=Publication.State.RETIRED, actor=actor)
    assert gate.entered.wait(timeout=30)  # the thread saw the change and is applying it
    served_meanwhile = generate(client, demo.client_id, "/personal/sandbox/other/generate")
    version_meanwhile = background_gateway.serving_version()
    gate.opened.set()
    assert refreshed.wait(timeout=30)

    assert served_meanwhile == 200
    assert version_meanwhile is not None
    assert version_meanwhile < invalidation.current_version()
    assert background_gateway.serving_version() == invalidation.current_version()
    assert generate(client, demo.client_id, "/personal/sandbox/other/generate") == 404
    assert generate(client, demo.client_id) == 200


@pytest.mark.django_db(transaction=True)
def test_a_warm_request_makes_no_query_when_the_thread_follows_changes(
    background_gateway: Gateway, actor: Actor, client: Client
) -> None:
    demo = demo_seed(admin_password="x", actor=actor)
    assert generate(client, demo.client_id) == 200

    with CaptureQueriesContext(connection) as queries:
        statuses = [generate(client, demo.client_id) for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert queries.captured_queries == []
