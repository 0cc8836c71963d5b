"""portal.views (/healthz, /readyz) and the portal's console pages (organizations, catalogs)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.cache.backends.base import BaseCache
from django.test import Client
from django.urls import reverse

from portal import views
from portal.handlers import is_gateway_path
from portal.models import Catalog, Organization


class UnreachableCache(BaseCache):
    """A cache backend whose server is down: every operation raises, as a lost Redis connection does."""

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)

    def add(self, *args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("cache server unreachable")

    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache server unreachable")

    def set(self, *args: Any, **kwargs: Any) -> None:
        raise ConnectionError("cache server unreachable")

    def delete(self, *args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("cache server unreachable")

    def clear(self) -> None:
        raise ConnectionError("cache server unreachable")


def cache_settings(backend: str) -> dict[str, dict[str, str]]:
    return {"default": {"BACKEND": backend, "LOCATION": "readyz-test"}}


class UnreachableDatabase:
    def cursor(self) -> Any:
        raise OSError("database unreachable")


# /healthz


def test_healthz_answers_ok(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_refuses_post(client: Client) -> None:
    assert client.post("/healthz").status_code == 405


def test_healthz_needs_no_database(client: Client) -> None:
    # No `db` fixture: pytest-django blocks database access, so a query here would fail the test.
    assert client.get("/healthz").status_code == 200


# /readyz: ready when the database and the cache answer; degraded (still 200) when the cache is away, or when
# the database is away but every warm probe says the process can serve from memory; otherwise 503.


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The registries of warm and version probes, emptied for the test (the tokens app registers the real
    gateway's); returns the warm one."""
    registry: dict[str, Any] = {}
    monkeypatch.setattr(views, "_warm_probes", registry)
    monkeypatch.setattr(views, "_version_probes", {})
    return registry


def test_readyz_answers_ok_when_database_and_cache_answer(db: None, client: Client, probes: dict[str, Any]) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_reports_each_warm_probe(db: None, client: Client, probes: dict[str, Any]) -> None:
    views.register_warm_probe("gateway", lambda: False)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok", "gateway": "cold"}


def test_readyz_reports_the_configuration_version_each_part_serves(
    db: None, client: Client, probes: dict[str, Any]
) -> None:
    views.register_version_probe("gateway", lambda: 42)
    views.register_version_probe("other", lambda: None)
    response = client.get("/readyz")
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "cache": "ok",
        "gateway_version": 42,
        "other_version": None,
    }


def test_readyz_is_degraded_when_the_cache_raises(
    db: None, client: Client, settings: Any, probes: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    settings.CACHES = cache_settings("tests.portal.test_views.UnreachableCache")
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "database": "ok", "cache": "unavailable"}
    assert "readiness: cache unavailable" in caplog.text


def test_readyz_is_degraded_when_the_cache_forgets(
    db: None, client: Client, settings: Any, probes: dict[str, Any]
) -> None:
    # The dummy cache accepts set() and then answers get() with None: a cache that does not keep values.
    settings.CACHES = cache_settings("django.core.cache.backends.dummy.DummyCache")
    assert client.get("/readyz").json() == {"status": "degraded", "database": "ok", "cache": "unavailable"}


def test_readyz_is_ok_with_a_working_cache_configured_the_same_way(
    db: None, client: Client, settings: Any, probes: dict[str, Any]
) -> None:
    settings.CACHES = cache_settings("django.core.cache.backends.locmem.LocMemCache")
    assert client.get("/readyz").json() == {"status": "ok", "database": "ok", "cache": "ok"}


def test_readyz_answers_503_when_the_database_raises_and_nothing_is_warm(
    db: None,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    probes: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr("portal.views.connection", UnreachableDatabase())
    views.register_warm_probe("gateway", lambda: False)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unavailable", "cache": "ok", "gateway": "cold"}
    assert "readiness: database unavailable" in caplog.text


def test_readyz_answers_503_when_the_database_raises_and_no_probe_is_registered(
    db: None, client: Client, monkeypatch: pytest.MonkeyPatch, probes: dict[str, Any]
) -> None:
    monkeypatch.setattr("portal.views.connection", UnreachableDatabase())
    assert client.get("/readyz").status_code == 503


def test_readyz_is_degraded_when_the_database_raises_but_the_gateway_is_warm(
    db: None, client: Client, monkeypatch: pytest.MonkeyPatch, probes: dict[str, Any]
) -> None:
    monkeypatch.setattr("portal.views.connection", UnreachableDatabase())
    views.register_warm_probe("gateway", lambda: True)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "database": "unavailable", "cache": "ok", "gateway": "warm"}


def test_readyz_answers_503_when_database_and_cache_are_down_and_nothing_is_warm(
    db: None, client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch, probes: dict[str, Any]
) -> None:
    settings.CACHES = cache_settings("tests.portal.test_views.UnreachableCache")
    monkeypatch.setattr("portal.views.connection", UnreachableDatabase())
    views.register_warm_probe("gateway", lambda: False)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert b"unreachable" not in response.content  # no exception text in the body


# Console: organizations and catalogs


@pytest.fixture
def admin_client_for(db: None, client: Client, django_user_model: type[AbstractUser]) -> Client:
    user = django_user_model.objects.create_superuser(username="root", email="", password=None)
    client.force_login(user)
    return client


def test_console_refuses_a_reserved_organization_slug(admin_client_for: Client) -> None:
    response = admin_client_for.post(
        reverse("admin:portal_organization_add"), {"slug": "admin", "title": "Shadow", "_save": "Save"}
    )
    assert response.status_code == 200
    assert "is reserved: it would shadow the portal" in response.content.decode()
    assert not Organization.objects.exists()


def test_console_creates_an_organization_with_its_sandbox(admin_client_for: Client) -> None:
    response = admin_client_for.post(
        reverse("admin:portal_organization_add"), {"slug": "acme", "title": "Acme", "_save": "Save"}
    )
    assert response.status_code == 302
    organization = Organization.objects.get(slug="acme")
    assert list(organization.catalogs.values_list("slug", flat=True)) == ["sandbox"]


def test_console_offers_no_delete_for_the_sandbox(admin_client_for: Client, sandbox: Catalog) -> None:
    response = admin_client_for.post(reverse("admin:portal_catalog_delete", args=[sandbox.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Catalog.objects.filter(pk=sandbox.pk).exists()


def test_console_deletes_production(admin_client_for: Client, production: Catalog) -> None:
    response = admin_client_for.post(reverse("admin:portal_catalog_delete", args=[production.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Catalog.objects.filter(pk=production.pk).exists()


# The landing page at / and the favicon (issue 15, item 3)


def test_landing_page_says_what_the_portal_is_and_links_everything(client: Client) -> None:
    # No `db` fixture: the page reads nothing from the database.
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>Key-profile and token portal</title>" in html
    for href in ("/admin/", "/api/v1/docs", "/personal/sandbox/.well-known/jwks.json", "/healthz", "/readyz"):
        assert f'href="{href}"' in html, href
    assert '<link rel="icon" href="/favicon.ico"' in html
    # The console's CSP allows neither inline script nor inline style.
    assert "<script" not in html
    assert " style=" not in html


def test_landing_page_refuses_post(client: Client) -> None:
    assert client.post("/").status_code == 405


def test_favicon_is_served_at_the_root(client: Client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert "max-age" in response["Cache-Control"]


def test_favicon_and_landing_page_are_not_gateway_paths() -> None:
    assert not is_gateway_path("/")
    assert not is_gateway_path("/favicon.ico")
    assert is_gateway_path("/personal/sandbox/securetoken/generate")


def test_console_pages_link_the_favicon_and_view_site_goes_to_the_landing_page(admin_client_for: Client) -> None:
    html = admin_client_for.get(reverse("admin:index")).content.decode()
    assert '<link rel="icon" href="/favicon.ico"' in html
    assert '<a href="/">View site</a>' in html


@pytest.mark.parametrize("path", ["/docs/x/y", "/console/a/b", "/media/a/b/c", "/accounts/a/b", "/.well-known/a/b"])
def test_a_reserved_first_segment_is_the_consoles_404_never_the_gateway(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.resolver_match is None or response.resolver_match.url_name != "gateway"
    assert "httpCode" not in response.content.decode()


def test_an_organization_first_segment_reaches_the_gateway_view(client: Client, organization: Organization) -> None:
    """The twin: the same shape of path under an organization slug is the gateway's (its JSON 404 here)."""
    response = client.get("/personal/sandbox/a/b")
    assert response.status_code == 404
    assert response.json()["httpCode"] == "404"
