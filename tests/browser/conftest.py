"""The browser suite: Debian's Chromium driven by Playwright against pytest-django's live server.

Playwright's own browser download is never used (``executable_path`` points at /usr/bin/chromium). The
suite runs Django's ORM from the test thread while Playwright's event loop lives there too, hence
DJANGO_ALLOW_ASYNC_UNSAFE. Every stage saves a screenshot under test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings, settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.test import Client
from playwright.sync_api import BrowserContext, Page, expect
from pytest_django.live_server_helper import LiveServer

from portal.handlers import GatewayHandler, dispatching_application
from tokens.runtime import Gateway

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Without Debian's Chromium a developer's run skips the browser tests, saying why; CI never skips them
    (.ci/run installs Chromium, and a CI run without it must fail, not pass quietly)."""
    if CHROMIUM.exists() or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)")
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(skip)


VIEWPORT = {"width": 1280, "height": 800}
# An assertion waits up to 15 s (Playwright's default is 5): a test page's first call builds the gateway's state in
# the live server, on a two-core machine that may be running another suite.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": VIEWPORT}


@pytest.fixture(scope="session")
def live_server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """pytest-django's live server, serving the product's own WSGI application (portal/wsgi.py: gateway
    paths through the gateway's handler, the rest through the console's stack) in place of Django's plain
    handler, so that the browser meets the gateway as users do."""
    address = request.config.getvalue("liveserver") or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost"
    server = LiveServer(address, start=False)
    server.thread.static_handler = _product_application
    server.start()
    yield server
    server.stop()


def _product_application(console: Any) -> StaticFilesHandler:
    return StaticFilesHandler(dispatching_application(console, GatewayHandler()))


@pytest.fixture(autouse=True)
def _live_console(
    transactional_db: None,
    live_server: LiveServer,
    settings: LazySettings,
    fresh_gateway: Gateway,
    recheck_always: None,
) -> None:
    """A clean gateway per test, seeing every publish at once; fast password hashing for the login test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def url(live_server: LiveServer) -> Callable[[str], str]:
    return lambda path: live_server.url + path


def console_user(username: str, *, role: str | None = None, superuser: bool = False) -> AbstractUser:
    model = get_user_model()
    user: AbstractUser = (
        model.objects.create_superuser(username=username, email="", password=None)
        if superuser
        else model.objects.create_user(username=username, password=None, is_staff=True)
    )
    if role is not None:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def sign_in(context: BrowserContext, live_server: LiveServer) -> Callable[[AbstractUser], None]:
    """Put a logged-in session for ``user`` into the browser context (the login form has its own test)."""

    def sign_in(user: AbstractUser) -> None:
        client = Client()
        client.force_login(user)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])

    return sign_in


@pytest.fixture
def screenshot(page: Page) -> Callable[..., Path]:
    """Save the viewport as test-artifacts/screenshots/<name>.png (kept by CI), scrolled so that the element
    ``top`` (a CSS selector) starts the view when given."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str, *, top: str | None = None) -> Path:
        if top is not None:
            page.locator(top).evaluate("element => element.scrollIntoView({block: 'start'})")
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    return take
