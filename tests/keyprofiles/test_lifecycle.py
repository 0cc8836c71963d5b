"""keyprofiles.lifecycle: the next patch version, state changes of a profile version in a catalog, keystores
shaped like another, and re-sealing every key under a new master key.

Each refusal has a positive twin that differs from it in the one input at fault. Time is passed explicitly
(``now=``) or frozen, never read from the wall clock in an assertion.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import LazySettings
from django.core.exceptions import ValidationError

from keyprofiles import keycache, keymaterial, lifecycle, services
from keyprofiles.models import KeyProfile, KeyProfileBinding, Keystore
from keyprofiles.sealing import SealingError
from portal.invalidation import current_version
from portal.models import AuditEvent, Catalog, Organization
from portal.services import Actor
from tests import keyfixtures as fx
from tests.conftest import OTHER_MASTER_KEY, TEST_MASTER_KEY

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
State = KeyProfileBinding.State


@pytest.fixture(autouse=True)
def frozen_time() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def keystore(organization: Organization, actor: Actor) -> Keystore:
    return services.keystore_import(
        organization=organization,
        name="JWT Keystore",
        certificate=fx.CERT1_PEM.encode(),
        private_key=fx.KEY1_PEM.encode(),
        actor=actor,
    )


@pytest.fixture
def profile(organization: Organization, sandbox: Catalog, keystore: Keystore, actor: Actor) -> KeyProfile:
    return services.keyprofile_create(
        organization=organization, title="JWT Keyprofile", keystore=keystore, catalogs=[sandbox], actor=actor
    )


@pytest.fixture
def binding(profile: KeyProfile, sandbox: Catalog) -> KeyProfileBinding:
    return KeyProfileBinding.objects.get(profile=profile, catalog=sandbox)


def transition_events() -> list[AuditEvent]:
    """The audit events of state changes (not of creating or enabling the profile)."""
    states = [f"keyprofile.{state}" for state in State.values]
    return list(AuditEvent.objects.filter(action__in=states))


# -- version_after -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "taken", "expected"),
    [
        ("1.0.0", set(), "1.0.1"),
        ("1.0.0", {"1.0.0"}, "1.0.1"),
        ("1.0.0", {"1.0.1"}, "1.0.2"),
        ("1.0.0", {"1.0.1", "1.0.2"}, "1.0.3"),
        ("1.0.0", {"1.0.2"}, "1.0.1"),  # a gap further on does not matter: the next free patch is taken
        ("2.3.9", {"2.3.9"}, "2.3.10"),
        ("0.0.0", set(), "0.0.1"),
    ],
)
def test_version_after_is_the_next_free_patch_version(version: str, taken: set[str], expected: str) -> None:
    assert lifecycle.version_after(version, taken) == expected


# -- binding_transition --------------------------------------------------------------------------------------


def test_transition_to_the_same_state_changes_nothing(binding: KeyProfileBinding, actor: Actor) -> None:
    version = current_version()
    changed_at = binding.state_changed_at

    same = lifecycle.binding_transition(binding=binding, state=State.ACTIVE, actor=actor)

    assert same.state == State.ACTIVE
    assert same.state_changed_at == changed_at
    assert transition_events() == []
    assert current_version() == version


def test_transition_to_another_state_is_saved_audited_and_announced(binding: KeyProfileBinding, actor: Actor) -> None:
    version = current_version()
    grace_end = NOW + timedelta(minutes=5)

    passive = lifecycle.binding_transition(
        binding=binding, state=State.PASSIVE, grace_ends_at=grace_end, actor=actor, now=NOW
    )

    binding.refresh_from_db()
    assert (binding.state, binding.grace_ends_at, binding.state_changed_at) == (State.PASSIVE, grace_end, NOW)
    assert passive.pk == binding.pk
    [event] = transition_events()
    assert event.action == "keyprofile.passive"
    assert event.actor == actor.name
    assert event.object_repr == str(binding.profile)
    assert event.detail == {
        "catalog": "sandbox",
        "version": "1.0.0",
        "from": "active",
        "to": "passive",
        "activates_at": None,
        "grace_ends_at": grace_end.isoformat(),
    }
    assert current_version() > version


def test_transition_twice_is_audited_once(binding: KeyProfileBinding, actor: Actor) -> None:
    grace_end = NOW + timedelta(minutes=5)
    for _ in range(2):
        lifecycle.binding_transition(binding=binding, state=State.PASSIVE, grace_ends_at=grace_end, actor=actor)

    assert [e.action for e in transition_events()] == ["keyprofile.passive"]


def test_retired_version_never_comes_back(binding: KeyProfileBinding, actor: Actor) -> None:
    lifecycle.binding_transition(binding=binding, state=State.RETIRED, actor=actor)

    for state, times in (
        (State.ACTIVE, {}),
        (State.PASSIVE, {"grace_ends_at": NOW + timedelta(hours=1)}),
        (State.NEXT, {"activates_at": NOW + timedelta(hours=1)}),
    ):
        with pytest.raises(ValidationError, match="retired; a retired key never signs or verifies again"):
            lifecycle.binding_transition(binding=binding, state=state, actor=actor, **times)
        binding.refresh_from_db()
        assert binding.state == State.RETIRED


def test_retiring_a_retired_version_again_is_a_no_op(binding: KeyProfileBinding, actor: Actor) -> None:
    lifecycle.binding_transition(binding=binding, state=State.RETIRED, actor=actor)

    again = lifecycle.binding_transition(binding=binding, state=State.RETIRED, actor=actor)

    assert again.state == State.RETIRED
    assert [e.action for e in transition_events()] == ["keyprofile.retired"]


def test_passive_version_may_become_active_again(binding: KeyProfileBinding, actor: Actor) -> None:
    """The twin of the retired case: only ``retired`` is final."""
    lifecycle.binding_transition(
        binding=binding, state=State.PASSIVE, grace_ends_at=NOW + timedelta(hours=1), actor=actor
    )

    active = lifecycle.binding_transition(binding=binding, state=State.ACTIVE, actor=actor)

    assert active.state == State.ACTIVE
    assert active.grace_ends_at is None


def test_next_without_a_start_time_is_refused(binding: KeyProfileBinding, actor: Actor) -> None:
    with pytest.raises(ValidationError) as caught:
        lifecycle.binding_transition(binding=binding, state=State.NEXT, actor=actor)

    assert "activates_at" in caught.value.message_dict
    binding.refresh_from_db()
    assert binding.state == State.ACTIVE
    assert transition_events() == []


def test_next_with_a_start_time_is_saved(binding: KeyProfileBinding, actor: Actor) -> None:
    starts = NOW + timedelta(days=1)

    lifecycle.binding_transition(binding=binding, state=State.NEXT, activates_at=starts, actor=actor)

    binding.refresh_from_db()
    assert (binding.state, binding.activates_at) == (State.NEXT, starts)
    assert binding.in_jwks


def test_passive_without_a_grace_end_is_refused(binding: KeyProfileBinding, actor: Actor) -> None:
    with pytest.raises(ValidationError) as caught:
        lifecycle.binding_transition(binding=binding, state=State.PASSIVE, actor=actor)

    assert "grace_ends_at" in caught.value.message_dict
    binding.refresh_from_db()
    assert binding.state == State.ACTIVE
    assert transition_events() == []


def test_passive_with_a_grace_end_is_saved(binding: KeyProfileBinding, actor: Actor) -> None:
    lifecycle.binding_transition(
        binding=binding, state=State.PASSIVE, grace_ends_at=NOW + timedelta(seconds=60), actor=actor
    )

    binding.refresh_from_db()
    assert (binding.state, binding.grace_ends_at) == (State.PASSIVE, NOW + timedelta(seconds=60))


def test_times_that_do_not_fit_the_state_are_not_kept(binding: KeyProfileBinding, actor: Actor) -> None:
    lifecycle.binding_transition(
        binding=binding, state=State.PASSIVE, grace_ends_at=NOW + timedelta(hours=1), actor=actor
    )

    lifecycle.binding_transition(
        binding=binding,
        state=State.RETIRED,
        activates_at=NOW,
        grace_ends_at=NOW + timedelta(hours=1),
        actor=actor,
    )

    binding.refresh_from_db()
    assert (binding.state, binding.activates_at, binding.grace_ends_at) == (State.RETIRED, None, None)
    assert not binding.in_jwks


# -- keystores_reseal -----------------------------------------------------------------------------------------

RING_1 = f"test-1:{TEST_MASTER_KEY}"
RING_1_AND_2 = f"test-1:{TEST_MASTER_KEY},k2:{OTHER_MASTER_KEY}"
RING_2 = f"k2:{OTHER_MASTER_KEY}"


def use_ring(settings: LazySettings, text: str) -> None:
    settings.KEYPROFILES = {"MASTER_KEYS": text, "MASTER_KEY_FILE": ""}
    keycache.clear()


@pytest.fixture
def three_keystores(organization: Organization, actor: Actor, settings: LazySettings) -> list[Keystore]:
    """An RSA key pair, an EC key pair and a shared secret, sealed under test-1 in a ring that also holds k2."""
    use_ring(settings, RING_1_AND_2)
    return [
        services.keystore_import(
            organization=organization,
            name="RSA",
            certificate=fx.CERT1_PEM.encode(),
            private_key=fx.KEY1_PEM.encode(),
            actor=actor,
        ),
        services.keystore_import(
            organization=organization,
            name="EC",
            certificate=fx.EC256_CERT_PEM.encode(),
            private_key=fx.EC256_KEY_PEM.encode(),
            actor=actor,
        ),
        services.keystore_secret_create(organization=organization, name="Secret", actor=actor),
    ]


def opened(keystore: Keystore) -> bytes:
    """What the keystore's sealed box holds, read through the per-process key cache as the gateway reads it."""
    keystore.refresh_from_db()
    if keystore.kind == Keystore.Kind.SECRET:
        return keycache.keystore_secret(keystore)
    public = keycache.keystore_private_key(keystore).public_key()
    return json.dumps(keymaterial.public_jwk(public), sort_keys=True).encode()


def contents(keystores: list[Keystore]) -> list[bytes]:
    keycache.clear()
    return [opened(keystore) for keystore in keystores]


def sealed_under(keystores: list[Keystore]) -> list[str]:
    return [Keystore.objects.get(pk=k.pk).sealed_key_id for k in keystores]


def test_reseal_moves_every_key_under_the_new_master_key(
    three_keystores: list[Keystore], actor: Actor, settings: LazySettings
) -> None:
    before = contents(three_keystores)
    nonces = [bytes(k.sealed_nonce) for k in three_keystores]

    done = lifecycle.keystores_reseal(key_id="k2", actor=actor)

    assert done == 3
    assert sealed_under(three_keystores) == ["k2", "k2", "k2"]
    after = [bytes(Keystore.objects.get(pk=k.pk).sealed_nonce) for k in three_keystores]
    assert all(new != old for new, old in zip(after, nonces, strict=True))
    assert contents(three_keystores) == before
    events = AuditEvent.objects.filter(action="keystore.reseal")
    assert events.count() == 3
    assert {e.detail["to_master_key"] for e in events} == {"k2"}
    assert {e.detail["from_master_key"] for e in events} == {"test-1"}
    # The old master key can now leave the ring: every key opens under k2 alone.
    use_ring(settings, RING_2)
    assert contents(three_keystores) == before


def test_without_a_reseal_keys_do_not_open_once_the_old_master_key_leaves(
    three_keystores: list[Keystore], settings: LazySettings
) -> None:
    """The twin of the test above: it is the re-seal that lets the old master key go."""
    use_ring(settings, RING_2)

    with pytest.raises(SealingError, match="'test-1' is not in PORTAL_MASTER_KEYS"):
        contents(three_keystores)


def test_reseal_reports_progress_per_batch(three_keystores: list[Keystore], actor: Actor) -> None:
    calls: list[tuple[int, int]] = []

    lifecycle.keystores_reseal(key_id="k2", actor=actor, batch_size=2, progress=lambda d, t: calls.append((d, t)))

    assert calls == [(2, 3), (3, 3)]


def test_interrupted_reseal_resumes_where_it_stopped(three_keystores: list[Keystore], actor: Actor) -> None:
    before = contents(three_keystores)

    class Interrupted(Exception):
        pass

    def stop_after_first_batch(done: int, total: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        lifecycle.keystores_reseal(key_id="k2", actor=actor, batch_size=1, progress=stop_after_first_batch)

    # The first batch committed; the rest still sits under the old key, and every key still opens.
    assert sorted(sealed_under(three_keystores)) == ["k2", "test-1", "test-1"]
    assert contents(three_keystores) == before

    calls: list[tuple[int, int]] = []
    done = lifecycle.keystores_reseal(
        key_id="k2", actor=actor, batch_size=1, progress=lambda d, t: calls.append((d, t))
    )

    assert done == 2
    assert calls == [(1, 2), (2, 2)]
    assert sealed_under(three_keystores) == ["k2", "k2", "k2"]
    assert contents(three_keystores) == before
    assert AuditEvent.objects.filter(action="keystore.reseal").count() == 3


def test_reseal_when_everything_is_already_under_the_key_does_nothing(
    three_keystores: list[Keystore], actor: Actor
) -> None:
    lifecycle.keystores_reseal(key_id="k2", actor=actor)

    assert lifecycle.keystores_reseal(key_id="k2", actor=actor) == 0
    assert AuditEvent.objects.filter(action="keystore.reseal").count() == 3


def test_reseal_under_a_master_key_not_in_the_ring_is_refused(three_keystores: list[Keystore], actor: Actor) -> None:
    with pytest.raises(SealingError, match="'k3' is not in PORTAL_MASTER_KEYS; add it there first"):
        lifecycle.keystores_reseal(key_id="k3", actor=actor)

    assert sealed_under(three_keystores) == ["test-1", "test-1", "test-1"]
    assert not AuditEvent.objects.filter(action="keystore.reseal").exists()


# -- keystore_like --------------------------------------------------------------------------------------------


def common_name(keystore: Keystore) -> str | None:
    return keymaterial.common_name_of(keystore.certificate_pem)


def validity(keystore: Keystore) -> timedelta:
    assert keystore.not_after is not None
    assert keystore.not_before is not None
    return keystore.not_after - keystore.not_before


def test_keystore_like_an_rsa_keystore_has_its_type_size_name_and_validity(
    organization: Organization, actor: Actor
) -> None:
    template = services.keystore_generate(
        organization=organization, name="Template", common_name="jwt.demo.local", days=100, actor=actor, now=NOW
    )
    later = NOW + timedelta(days=70)

    made = lifecycle.keystore_like(template=template, name="Made", actor=actor, now=later)

    assert (made.name, made.kind, made.source) == ("Made", Keystore.Kind.KEY_PAIR, Keystore.Source.GENERATED)
    assert (made.key_type, made.key_size) == ("RSA", 2048)
    assert common_name(made) == "jwt.demo.local"
    assert made.not_before == later
    assert validity(made) == timedelta(days=100)
    assert made.fingerprint_sha256 != template.fingerprint_sha256


def test_keystore_like_with_other_bits_changes_only_the_size(organization: Organization, actor: Actor) -> None:
    template = services.keystore_generate(
        organization=organization, name="Template", common_name="jwt.demo.local", days=100, actor=actor, now=NOW
    )

    made = lifecycle.keystore_like(template=template, name="Made", bits=3072, actor=actor, now=NOW)

    assert (made.key_type, made.key_size, common_name(made), validity(made)) == (
        "RSA",
        3072,
        "jwt.demo.local",
        timedelta(days=100),
    )


@pytest.mark.parametrize(("curve", "size"), [("P-256", 256), ("P-384", 384)])
def test_keystore_like_an_ec_keystore_has_its_curve(
    organization: Organization, actor: Actor, curve: str, size: int
) -> None:
    template = services.keystore_generate(
        organization=organization,
        name="EC Template",
        common_name="ec.demo.local",
        key_type="EC",
        curve=curve,
        days=30,
        actor=actor,
        now=NOW,
    )

    made = lifecycle.keystore_like(template=template, name="Made", actor=actor, now=NOW)

    assert (made.key_type, made.curve, made.key_size) == ("EC", curve, size)
    assert common_name(made) == "ec.demo.local"
    assert validity(made) == timedelta(days=30)


def test_keystore_like_an_uploaded_century_certificate_is_capped_at_the_longest_generated_validity(
    keystore: Keystore, actor: Actor
) -> None:
    """Certificate 1 is valid 2025 to 2125; a generated certificate may last at most MAX_DAYS."""
    assert validity(keystore) > timedelta(days=keymaterial.MAX_DAYS)

    made = lifecycle.keystore_like(template=keystore, name="Made", actor=actor, now=NOW)

    assert common_name(made) == "test.example"
    assert validity(made) == timedelta(days=keymaterial.MAX_DAYS)
    assert made.source == Keystore.Source.GENERATED
