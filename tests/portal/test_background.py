"""Tests of portal.background.run_later: work after the commit, in a thread, never instead of a rollback."""

from __future__ import annotations

import threading

import pytest
from django.db import transaction

from portal.background import THREAD_NAME_PREFIX, run_later
from portal.models import Organization

pytestmark = pytest.mark.django_db(transaction=True)


def join_background_threads() -> None:
    for thread in threading.enumerate():
        if thread.name.startswith(THREAD_NAME_PREFIX):
            thread.join(timeout=30)


def test_work_runs_in_its_own_thread_after_the_commit_and_sees_what_it_committed() -> None:
    seen: list[tuple[str, bool]] = []

    def work() -> None:
        seen.append((threading.current_thread().name, Organization.objects.filter(slug="later").exists()))

    with transaction.atomic():
        Organization.objects.create(slug="later", title="Later")
        run_later(seconds=0.01, work=work, name="probe")
        assert seen == []  # nothing before the commit
    join_background_threads()

    assert seen == [(THREAD_NAME_PREFIX + "probe", True)]


def test_nothing_runs_when_the_transaction_rolls_back() -> None:
    """The twin: the same work, rolled back."""
    seen: list[str] = []

    class Refused(Exception):
        pass

    def schedule_then_refuse() -> None:
        with transaction.atomic():
            run_later(seconds=0.0, work=lambda: seen.append("ran"), name="probe")
            raise Refused

    with pytest.raises(Refused):
        schedule_then_refuse()
    join_background_threads()

    assert seen == []


def test_a_failing_step_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def work() -> None:
        raise RuntimeError("database unreachable")

    run_later(seconds=0.0, work=work, name="failing")
    join_background_threads()

    [record] = [r for r in caplog.records if r.name == "portal.background"]
    assert record.getMessage() == "The background step failing failed; the command that also does it will."
    assert record.exc_info is not None
