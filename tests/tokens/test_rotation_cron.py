"""The README's cron recipe, run over three years of moved clock: the demo key never expires.

```cron
* * * * *   manage.py retire_keys
17 3 * * *  manage.py rotate_keyprofile --org personal --expiring-within 30
0 8 * * *   manage.py check_key_expiry --within 14 || mail ...
```

Each simulated day runs the nightly rotation at 03:17, ``retire_keys`` two minutes later (running it every
minute of three years would only repeat "nothing to do"; a grace of 60 s has ended by then), the morning check
at 08:00, and at noon a caller's view: the active version's certificate is valid that day, and a token minted
through the gateway carries that version's kid and validates. The clock moves with time_machine
(``tick=False``); keys are generated only at rotations, about once a year.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import BaseCommand
from django.test import Client
from django.utils import timezone
from time_machine import TimeMachineFixture

from keyprofiles.models import KeyProfileBinding, Keystore
from portal.services import Actor
from tests.tokens.helpers import DEMO_BASE, INSTANT, certificate_kid, token_kid
from tokens.demo import DemoSummary, demo_seed

DAYS = 3 * 365 + 30
State = KeyProfileBinding.State


# The tokens conftest gives each test a fresh gateway; these look at the version on every request.
pytestmark = pytest.mark.usefixtures("recheck_always")


@pytest.fixture
def demo(db: None, clock: TimeMachineFixture, actor: Actor) -> DemoSummary:
    return demo_seed(admin_password="x", actor=actor)


def command(name: str, *args: str) -> tuple[int, str]:
    """Run a command as cron would: (exit status, output)."""
    out = io.StringIO()
    try:
        call_command(_commands.get(name) or name, *args, stdout=out, stderr=out)
    except SystemExit as e:
        return int(e.code or 0), out.getvalue()
    return 0, out.getvalue()


# Commands loaded once: three years of cron run each of them about 1100 times.
_commands: dict[str, BaseCommand] = {
    name: load_command_class(app, name)
    for app, name in (("tokens", "rotate_keyprofile"), ("tokens", "retire_keys"), ("keyprofiles", "check_key_expiry"))
}


def active_keystore() -> tuple[str, Keystore]:
    """The version of the demo profile that signs in sandbox, and its keystore: exactly one."""
    [binding] = KeyProfileBinding.objects.filter(
        state=State.ACTIVE, profile__name="jwt-keyprofile", catalog__slug="sandbox"
    ).select_related("profile__keystore")
    assert binding.profile.keystore is not None
    return binding.profile.version, binding.profile.keystore


@dataclass
class Log:
    rotations: list[tuple[int, str]] = field(default_factory=list)  # (day, new version)
    check_failures: list[int] = field(default_factory=list)  # days check_key_expiry exited 1
    least_days_left: int = 10**6


def move_to(clock: TimeMachineFixture, day: int, hour: int, minute: int) -> datetime:
    """Move the frozen clock to ``hour:minute`` UTC on simulated day ``day`` (day 0 is INSTANT's date)."""
    moment = datetime.combine((INSTANT + timedelta(days=day)).date(), time(hour, minute), tzinfo=UTC)
    clock.move_to(moment, tick=False)
    return moment


def run_the_recipe(clock: TimeMachineFixture, client: Client, client_id: str, days: int) -> Log:
    log = Log()
    validated = ""
    for day in range(days):
        move_to(clock, day, 3, 17)
        status, out = command("rotate_keyprofile", "--org", "personal", "--expiring-within", "30", "--json")
        assert status == 0, out
        log.rotations.extend((day, plan["new_version"]) for plan in json.loads(out))
        move_to(clock, day, 3, 19)
        status, out = command("retire_keys", "--verbosity", "0")
        assert status == 0, out

        move_to(clock, day, 8, 0)
        version, keystore = active_keystore()
        status, out = command("check_key_expiry", "--within", "14")
        if status:
            log.check_failures.append(day)
            assert f"keystore '{keystore.name}'" not in out, f"day {day}: the active key {version} expires soon"

        noon = move_to(clock, day, 12, 0)
        assert keystore.not_before is not None
        assert keystore.not_after is not None
        assert keystore.not_before <= noon < keystore.not_after, f"day {day}: {version} is not valid"
        days_left = keystore.days_to_expiry(noon)
        assert days_left is not None
        assert days_left > 0, f"day {day}: {version} expires today"
        log.least_days_left = min(log.least_days_left, days_left)
        response = client.get(
            f"{DEMO_BASE}/generate", headers={"X-IBM-Client-Id": client_id, "iss-claim": "apic", "aud-claim": "id1"}
        )
        assert response.status_code == 200, f"day {day}: {response.content!r}"
        token = response["Authorization"].removeprefix("Bearer ")
        assert token_kid(token) == certificate_kid(keystore.certificate_pem), f"day {day}: not signed by {version}"
        if version != validated:
            # The first token of each version also validates (every day would only repeat it).
            check = client.get(
                f"{DEMO_BASE}/validate", headers={"X-IBM-Client-Id": client_id, "Authorization": f"Bearer {token}"}
            )
            assert check.status_code == 200, f"day {day}: {check.content!r}"
            validated = version
    return log


def test_the_cron_recipe_never_lets_the_demo_key_expire(
    demo: DemoSummary, clock: TimeMachineFixture, client: Client
) -> None:
    log = run_the_recipe(clock, client, demo.client_id, DAYS)

    # A 365-day certificate is rotated on the first night it has less than 30 days left: about once a year.
    assert log.rotations == [(336, "1.0.1"), (671, "1.0.2"), (1006, "1.0.3")]
    assert log.least_days_left >= 29
    # Every replaced version was retired once its grace (the demo's 60 s token validity) had ended.
    states = dict(
        KeyProfileBinding.objects.filter(profile__name="jwt-keyprofile").values_list("profile__version", "state")
    )
    assert states == {"1.0.0": State.RETIRED, "1.0.1": State.RETIRED, "1.0.2": State.RETIRED, "1.0.3": State.ACTIVE}
    # The morning check never reports the key in use.
    assert all(day >= 336 for day in log.check_failures)


def test_without_the_nightly_rotation_the_demo_key_expires(demo: DemoSummary, clock: TimeMachineFixture) -> None:
    """The twin of the recipe: with only retire_keys running, the certificate runs out after 365 days, and the
    morning check says so two weeks ahead."""
    clock.move_to(INSTANT + timedelta(days=350), tick=False)
    assert command("check_key_expiry", "--within", "14")[0] == 0
    clock.move_to(INSTANT + timedelta(days=351, minutes=1), tick=False)
    status, out = command("check_key_expiry", "--within", "14")
    assert status == 1
    assert "keystore 'JWT Keystore' CN=jwt.demo.local expires in 13 days" in out

    clock.move_to(INSTANT + timedelta(days=365), tick=False)
    assert command("retire_keys")[0] == 0
    _, keystore = active_keystore()
    assert keystore.not_after is not None
    assert keystore.not_after <= timezone.now()


def test_check_key_expiry_reports_the_active_key_before_the_rotation(
    demo: DemoSummary, clock: TimeMachineFixture
) -> None:
    """14 days before expiry with no rotation, the active demo key is reported (exit 1)."""
    clock.move_to(INSTANT + timedelta(days=355), tick=False)

    status, out = command("check_key_expiry", "--within", "14")

    assert status == 1
    assert "JWT Keystore" in out


def test_check_key_expiry_is_quiet_once_the_expiring_key_was_rotated_and_retired(
    demo: DemoSummary, clock: TimeMachineFixture
) -> None:
    """After the nightly rotation replaced the key and retire_keys retired the old one, nothing in use expires
    within 14 days: the morning check must not alert (README: "alert if anything *still* expires")."""
    clock.move_to(INSTANT + timedelta(days=340), tick=False)
    assert command("rotate_keyprofile", "--org", "personal", "--expiring-within", "30")[0] == 0
    clock.move_to(INSTANT + timedelta(days=340, minutes=2), tick=False)
    assert command("retire_keys")[0] == 0
    clock.move_to(INSTANT + timedelta(days=355), tick=False)

    status, out = command("check_key_expiry", "--within", "14")

    assert status == 0, out
