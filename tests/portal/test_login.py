"""Console login throttling (django-axes; issue 9, finding 4): after AXES_FAILURE_LIMIT (5) wrong passwords for
one user name from one address, that pair is refused, even with the right password, until the cool-off
(15 minutes without another try) passes or an administrator runs ``axes_reset_username``. Every failure,
refusal and success is an audit event. The counts live in the database, so every process shares them; the
test database is rolled back after each test, so no test inherits another's failures.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from axes.models import AccessAttempt  # type: ignore[import-untyped]
from django.conf import LazySettings, settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from portal.models import AuditEvent

PASSWORD = "a long correct password"
LOGIN = "/admin/login/?next=/admin/"
HERE = "203.0.113.7"
ELSEWHERE = "198.51.100.9"


@pytest.fixture(autouse=True)
def _fast_hashing(settings: LazySettings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def olivia(db: None) -> AbstractUser:
    user: AbstractUser = get_user_model().objects.create_user(username="olivia", password=PASSWORD, is_staff=True)
    return user


def sign_in(password: str, *, username: str = "olivia", address: str = HERE) -> Any:
    """One login form POST from ``address`` in a fresh browser (the lock-out follows the address, not a cookie)."""
    client = Client(REMOTE_ADDR=address)
    response = client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)
    response.client_ = client
    return response


def signed_in(response: Any) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def actions() -> list[tuple[str, str, str]]:
    return list(AuditEvent.objects.order_by("id").values_list("action", "actor", "outcome"))


def test_four_failures_then_the_right_password_signs_in_and_every_try_is_audited(olivia: AbstractUser) -> None:
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        failed = sign_in("wrong")
        assert failed.status_code == 200
        assert "Please enter the correct username and password" in failed.content.decode()
    assert signed_in(sign_in(PASSWORD))
    assert actions() == [
        *[("login.failure", "olivia", "failure")] * (limit - 1),
        ("login.success", "olivia", "success"),
    ]
    assert AuditEvent.objects.filter(action="login.failure").first().detail == {"ip_address": HERE}  # type: ignore[union-attr]


def test_five_failures_lock_out_even_the_right_password_with_a_clear_page(olivia: AbstractUser) -> None:
    limit = settings.AXES_FAILURE_LIMIT
    answers = [sign_in("wrong") for _ in range(limit)]
    assert [a.status_code for a in answers] == [200] * (limit - 1) + [429]

    refused = sign_in(PASSWORD)
    page = refused.content.decode()
    assert refused.status_code == 429
    assert "signing in is paused" in page
    assert "15 minutes" in page
    assert "axes_reset_username" in page
    assert refused["Retry-After"] == "900"
    assert PASSWORD not in page
    assert refused.client_.get("/admin/").status_code == 302  # not signed in
    assert ("login.lockout", "olivia", "failure") in actions()
    assert ("login.success", "olivia", "success") not in actions()
    # Counted in the database, where every process and node reads the same number.
    assert AccessAttempt.objects.get(username="olivia", ip_address=HERE).failures_since_start == limit + 1


def test_a_lock_out_holds_one_user_at_one_address_only(olivia: AbstractUser) -> None:
    get_user_model().objects.create_user(username="aldo", password=PASSWORD, is_staff=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in("wrong")
    assert sign_in(PASSWORD).status_code == 429
    assert signed_in(sign_in(PASSWORD, address=ELSEWHERE))
    assert signed_in(sign_in(PASSWORD, username="aldo"))


def test_an_unknown_user_name_is_throttled_and_audited_the_same_way(db: None) -> None:
    answers = [sign_in("wrong", username="nobody") for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert answers[-1].status_code == 429
    assert ("login.lockout", "nobody", "failure") in actions()


def test_the_lock_out_ends_after_the_cool_off(olivia: AbstractUser) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            sign_in("wrong")
    retry = start + settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    with time_machine.travel(retry, tick=False):
        assert sign_in(PASSWORD).status_code == 429  # a try inside the cool-off starts the wait again
    with time_machine.travel(retry + settings.AXES_COOLOFF_TIME + timedelta(seconds=1), tick=False):
        assert signed_in(sign_in(PASSWORD))


def test_an_administrator_unlocks_with_axes_reset_username(olivia: AbstractUser) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in("wrong")
    assert sign_in(PASSWORD).status_code == 429
    out = StringIO()
    call_command("axes_reset_username", "olivia", stdout=out)
    assert "1 attempts removed." in out.getvalue()
    assert signed_in(sign_in(PASSWORD))


def test_the_login_page_sends_the_console_csp(db: None) -> None:
    policy = Client().get(LOGIN)["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy


BALANCER = "10.0.0.2"


def sign_in_through_balancer(password: str, forwarded_for: str) -> Any:
    client = Client()
    return client.post(
        LOGIN, {"username": "olivia", "password": password}, REMOTE_ADDR=BALANCER, HTTP_X_FORWARDED_FOR=forwarded_for
    )


def test_behind_a_trusted_balancer_the_address_it_saw_is_counted(olivia: AbstractUser, settings: LazySettings) -> None:
    settings.PORTAL_TRUSTED_PROXIES = 1
    for _ in range(settings.AXES_FAILURE_LIMIT):
        # The left entry is the caller's own claim and changes every time; the balancer's entry does not.
        sign_in_through_balancer("wrong", f"192.0.2.{_}, {HERE}")
    assert sign_in_through_balancer(PASSWORD, f"192.0.2.99, {HERE}").status_code == 429
    assert signed_in(sign_in_through_balancer(PASSWORD, ELSEWHERE))
    assert AccessAttempt.objects.get().ip_address == HERE


def test_without_trusted_balancers_x_forwarded_for_is_ignored(olivia: AbstractUser) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in_through_balancer("wrong", HERE)
    assert sign_in_through_balancer(PASSWORD, ELSEWHERE).status_code == 429
    assert AccessAttempt.objects.get().ip_address == BALANCER


def test_a_forwarded_entry_that_is_no_address_falls_back_to_the_connection(
    olivia: AbstractUser, settings: LazySettings
) -> None:
    settings.PORTAL_TRUSTED_PROXIES = 1
    assert sign_in_through_balancer("wrong", "not-an-address").status_code == 200
    assert AccessAttempt.objects.get().ip_address == BALANCER


def test_a_crash_while_signing_in_never_shows_the_password_on_the_debug_page(
    olivia: AbstractUser, settings: LazySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.contrib.auth.backends import ModelBackend

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug in a backend")

    settings.DEBUG = True
    monkeypatch.setattr(ModelBackend, "authenticate", crash)
    client = Client(raise_request_exception=False)
    response = client.post(LOGIN, {"username": "olivia", "password": PASSWORD})
    page = response.content.decode()
    assert response.status_code == 500
    assert "a bug in a backend" in page  # the debug page, traceback and variables included
    assert PASSWORD not in page
