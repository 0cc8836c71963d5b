"""keyprofiles.sealing and keyprofiles.keycache: private keys sealed at rest (DESIGN.md section 6).

The master key ring of tests/conftest.py seals every key here; no test touches var/master.key.
"""

from __future__ import annotations

import base64
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from keyprofiles import keycache, keymaterial, services
from keyprofiles.conf import keyprofiles_settings
from keyprofiles.models import Keystore
from keyprofiles.sealing import MASTER_KEY_BYTES, MasterKeyRing, SealedBox, SealingError, master_key_ring
from portal.models import Organization
from portal.services import Actor
from tests import keyfixtures as fx
from tests.conftest import OTHER_MASTER_KEY, TEST_MASTER_KEY
from tests.keyfixtures import der_of

KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(32, 64))).decode()
IDENTITY = b"keyprofiles.keystore:00000000-0000-0000-0000-000000000001"
PLAINTEXT = b"a private key's DER, or a shared secret"


# The ring: sealing and opening


def test_seal_and_unseal_round_trip() -> None:
    ring = MasterKeyRing.parse(f"k1:{KEY_A}")
    box = ring.seal(PLAINTEXT, identity=IDENTITY)
    assert box.key_id == "k1"
    assert len(box.nonce) == 12
    assert PLAINTEXT not in box.ciphertext
    assert len(box.ciphertext) == len(PLAINTEXT) + 16  # the GCM tag
    assert ring.unseal(box, identity=IDENTITY) == PLAINTEXT


def test_each_seal_uses_a_fresh_nonce() -> None:
    ring = MasterKeyRing.parse(f"k1:{KEY_A}")
    first, second = ring.seal(PLAINTEXT, identity=IDENTITY), ring.seal(PLAINTEXT, identity=IDENTITY)
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext


def test_wrong_master_key_under_the_same_id_fails_clearly() -> None:
    box = MasterKeyRing.parse(f"k1:{KEY_A}").seal(PLAINTEXT, identity=IDENTITY)
    with pytest.raises(SealingError, match="wrong master key, or the data or its row were altered"):
        MasterKeyRing.parse(f"k1:{KEY_B}").unseal(box, identity=IDENTITY)


def test_the_same_master_key_in_another_ring_opens_the_box() -> None:
    box = MasterKeyRing.parse(f"k1:{KEY_A}").seal(PLAINTEXT, identity=IDENTITY)
    assert MasterKeyRing.parse(f"k1:{KEY_A}").unseal(box, identity=IDENTITY) == PLAINTEXT


def test_box_does_not_open_under_another_identity() -> None:
    ring = MasterKeyRing.parse(f"k1:{KEY_A}")
    box = ring.seal(PLAINTEXT, identity=IDENTITY)
    with pytest.raises(SealingError):
        ring.unseal(box, identity=IDENTITY[:-1] + b"2")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda box: SealedBox(box.key_id, box.nonce, bytes([box.ciphertext[0] ^ 1]) + box.ciphertext[1:]),
        lambda box: SealedBox(box.key_id, box.nonce, box.ciphertext[:-1] + bytes([box.ciphertext[-1] ^ 1])),
        lambda box: SealedBox(box.key_id, bytes([box.nonce[0] ^ 1]) + box.nonce[1:], box.ciphertext),
    ],
    ids=["ciphertext", "tag", "nonce"],
)
def test_tampered_box_does_not_open(tamper: Callable[[SealedBox], SealedBox]) -> None:
    ring = MasterKeyRing.parse(f"k1:{KEY_A}")
    box = ring.seal(PLAINTEXT, identity=IDENTITY)
    with pytest.raises(SealingError):
        ring.unseal(tamper(box), identity=IDENTITY)


def test_unknown_master_key_id_is_named() -> None:
    box = MasterKeyRing.parse(f"k1:{KEY_A}").seal(PLAINTEXT, identity=IDENTITY)
    with pytest.raises(SealingError) as caught:
        MasterKeyRing.parse(f"k2:{KEY_A}").unseal(box, identity=IDENTITY)
    assert str(caught.value) == "Master key 'k1' is not in PORTAL_MASTER_KEYS; add it back to open this key."
    assert KEY_A not in str(caught.value)


def test_old_key_left_in_the_ring_opens_boxes_sealed_before_the_active_key_changed() -> None:
    old_box = MasterKeyRing.parse(f"old:{KEY_A}").seal(PLAINTEXT, identity=IDENTITY)
    ring = MasterKeyRing.parse(f"old:{KEY_A},new:{KEY_B}", "new")
    assert ring.unseal(old_box, identity=IDENTITY) == PLAINTEXT
    new_box = ring.seal(PLAINTEXT, identity=IDENTITY)
    assert new_box.key_id == "new"
    assert MasterKeyRing.parse(f"new:{KEY_B}").unseal(new_box, identity=IDENTITY) == PLAINTEXT


def test_old_box_does_not_open_once_its_key_left_the_ring() -> None:
    old_box = MasterKeyRing.parse(f"old:{KEY_A}").seal(PLAINTEXT, identity=IDENTITY)
    with pytest.raises(SealingError, match="Master key 'old' is not in PORTAL_MASTER_KEYS"):
        MasterKeyRing.parse(f"new:{KEY_B}").unseal(old_box, identity=IDENTITY)


# The ring: parsing PORTAL_MASTER_KEYS


def test_ring_parses_ids_and_chooses_the_first_as_active() -> None:
    ring = MasterKeyRing.parse(f" k1 : {KEY_A} ,\nk2:{KEY_B}\n")
    assert ring.key_ids == ("k1", "k2")
    assert ring.active_key_id == "k1"


def test_ring_takes_the_active_id_it_is_given() -> None:
    assert MasterKeyRing.parse(f"k1:{KEY_A},k2:{KEY_B}", "k2").active_key_id == "k2"


@pytest.mark.parametrize(
    ("text", "active", "message"),
    [
        ("k1:not*base64!", "", "Master key 'k1' is not valid base64."),
        (
            f"k1:{base64.b64encode(bytes(16)).decode()}",
            "",
            "Master key 'k1' is 16 bytes; AES-256-GCM needs exactly 32.",
        ),
        (
            f"k1:{base64.b64encode(bytes(33)).decode()}",
            "",
            "Master key 'k1' is 33 bytes; AES-256-GCM needs exactly 32.",
        ),
        (f"k1:{KEY_A},k1:{KEY_B}", "", "Master key id 'k1' appears twice."),
        ("", "", "PORTAL_MASTER_KEYS holds no key."),
        (" , \n ", "", "PORTAL_MASTER_KEYS holds no key."),
        (KEY_A, "", "PORTAL_MASTER_KEYS entries must read 'id:base64key'."),
        (f":{KEY_A}", "", "PORTAL_MASTER_KEYS entries must read 'id:base64key'."),
        (f"k1:{KEY_A}", "k9", "The active master key id 'k9' is not in the key ring."),
    ],
    ids=[
        "bad-base64",
        "too-short",
        "too-long",
        "duplicate-id",
        "empty",
        "only-separators",
        "no-id",
        "empty-id",
        "unknown-active-id",
    ],
)
def test_bad_ring_is_refused_naming_the_id_but_never_the_key(text: str, active: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        MasterKeyRing.parse(text, active)
    assert str(caught.value) == message
    for secret in (KEY_A, KEY_B, "not*base64!", base64.b64encode(bytes(16)).decode()):
        assert secret not in str(caught.value)


def test_a_32_byte_key_is_accepted() -> None:
    assert MasterKeyRing.parse(f"k1:{base64.b64encode(bytes(MASTER_KEY_BYTES)).decode()}").key_ids == ("k1",)


def test_unknown_keyprofiles_setting_is_refused(settings: Any) -> None:
    settings.KEYPROFILES = {"MASTER_KEYS": f"test-1:{TEST_MASTER_KEY}", "MASTER_KEY": "typo"}
    with pytest.raises(ImproperlyConfigured, match=re.escape("Unknown KEYPROFILES settings: MASTER_KEY.")):
        _ = keyprofiles_settings.MASTER_KEYS


def test_known_keyprofiles_settings_are_read_with_defaults(settings: Any) -> None:
    settings.KEYPROFILES = {"MASTER_KEYS": f"test-1:{TEST_MASTER_KEY}", "EXPIRY_WARNING_DAYS": 7}
    assert keyprofiles_settings.EXPIRY_WARNING_DAYS == 7
    assert keyprofiles_settings.EXPIRY_NOTICE_DAYS == 90


# The process ring from settings, and the development key file


def test_process_ring_follows_settings(settings: Any) -> None:
    assert master_key_ring().key_ids == ("test-1",)
    settings.KEYPROFILES = {"MASTER_KEYS": f"test-2:{OTHER_MASTER_KEY},test-1:{TEST_MASTER_KEY}"}
    assert master_key_ring().key_ids == ("test-2", "test-1")
    assert master_key_ring().active_key_id == "test-2"


def test_development_key_file_is_created_with_a_warning(
    settings: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "var" / "master.key"
    settings.KEYPROFILES = {"MASTER_KEYS": "", "MASTER_KEY_FILE": str(key_file)}
    ring = master_key_ring()
    assert ring.key_ids == ("local-1",)
    assert f"WARNING: created a local development master key at {key_file}" in capsys.readouterr().err
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().startswith("local-1:")
    box = ring.seal(PLAINTEXT, identity=IDENTITY)
    # A new process (here: a reset ring) reads the same file, warns no more, and opens what was sealed.
    settings.KEYPROFILES = {"MASTER_KEYS": "", "MASTER_KEY_FILE": str(key_file), "EXPIRY_WARNING_DAYS": 30}
    assert master_key_ring().unseal(box, identity=IDENTITY) == PLAINTEXT
    assert capsys.readouterr().err == ""


def test_development_key_file_is_not_created_when_master_keys_are_set(
    settings: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "var" / "master.key"
    settings.KEYPROFILES = {"MASTER_KEYS": f"test-1:{TEST_MASTER_KEY}", "MASTER_KEY_FILE": str(key_file)}
    assert master_key_ring().key_ids == ("test-1",)
    assert not key_file.exists()
    assert capsys.readouterr().err == ""


def test_without_master_keys_or_key_file_sealing_is_refused(settings: Any) -> None:
    settings.KEYPROFILES = {"MASTER_KEYS": "", "MASTER_KEY_FILE": ""}
    with pytest.raises(
        ImproperlyConfigured, match=re.escape("PORTAL_MASTER_KEYS is not set: private keys cannot be sealed.")
    ):
        master_key_ring()


# Keystore rows hold no key bytes


def _private_numbers_needles(key: Any) -> list[bytes]:
    """Byte strings that would betray the key: its DER forms, their base64, and its private numbers."""
    needles: list[bytes] = []
    ders = [
        key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
        for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL)
    ]
    for der in ders:
        needles += [der, base64.b64encode(der), base64.b64encode(der)[64:128]]
    numbers = key.private_numbers()
    secrets_ = [numbers.d, numbers.p, numbers.q] if isinstance(key, rsa.RSAPrivateKey) else [numbers.private_value]
    for value in secrets_:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        needles += [raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw)[:40]]
    return needles


def _table_cells(table: str) -> list[bytes]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - a fixed table name
        rows = cursor.fetchall()
    cells = []
    for row in rows:
        for value in row:
            if isinstance(value, memoryview | bytes | bytearray):
                cells.append(bytes(value))
            elif value is not None:
                cells.append(str(value).encode())
    return cells


def _found(needles: list[bytes], tables: tuple[str, ...] = ("keyprofiles_keystore", "portal_auditevent")) -> bool:
    cells = [cell for table in tables for cell in _table_cells(table)]
    return any(needle in cell for needle in needles for cell in cells)


@pytest.fixture
def stored(organization: Organization, actor: Actor) -> tuple[Keystore, Keystore]:
    generated = services.keystore_generate(
        organization=organization, name="Generated", common_name="g.example", actor=actor
    )
    imported = services.keystore_import(
        organization=organization,
        name="Imported",
        certificate=fx.CERT1_PEM.encode(),
        private_key=fx.KEY1_ENCRYPTED_PEM.encode(),
        password=fx.KEY1_PASSPHRASE,
        actor=actor,
    )
    return generated, imported


def test_database_holds_no_bytes_of_a_generated_or_imported_key(stored: tuple[Keystore, Keystore]) -> None:
    generated, imported = stored
    imported_key = keymaterial.private_key_from_sealed_der(der_of(fx.KEY1_PEM))
    needles = _private_numbers_needles(imported_key) + _private_numbers_needles(
        keycache.keystore_private_key(generated)
    )
    needles += [line.encode() for line in fx.KEY1_PEM.splitlines()[1:-1] if len(line) == 64]
    assert not _found(needles)
    # The sealed boxes are there, and open to exactly those keys.
    assert keycache.keystore_private_key(imported).private_numbers() == imported_key.private_numbers()


def test_database_search_finds_the_certificate_it_does_store(stored: tuple[Keystore, Keystore]) -> None:
    # Twin of the test above: the same search over the same rows finds public material, so it reads them.
    certificate_lines = [line.encode() for line in fx.CERT1_PEM.splitlines()[1:-1] if len(line) == 64]
    assert all(_found([line], tables=("keyprofiles_keystore",)) for line in certificate_lines)


def test_keystore_rows_carry_the_sealed_box(stored: tuple[Keystore, Keystore]) -> None:
    for keystore in stored:
        keystore.refresh_from_db()
        assert keystore.sealed_key_id == "test-1"
        assert len(bytes(keystore.sealed_nonce)) == 12
        assert len(bytes(keystore.sealed_ciphertext)) > 1000


# Keystore rows: identity binding and master keys


def test_sealed_box_copied_to_another_keystore_row_does_not_open(organization: Organization, actor: Actor) -> None:
    source = services.keystore_import(
        organization=organization,
        name="Source",
        certificate=fx.CERT1_PEM.encode(),
        private_key=fx.KEY1_PEM.encode(),
        actor=actor,
    )
    target = services.keystore_import(
        organization=organization,
        name="Target",
        certificate=fx.CERT2_PEM.encode(),
        private_key=fx.KEY2_PEM.encode(),
        actor=actor,
    )
    Keystore.objects.filter(pk=target.pk).update(
        sealed_key_id=source.sealed_key_id,
        sealed_nonce=source.sealed_nonce,
        sealed_ciphertext=source.sealed_ciphertext,
    )
    target.refresh_from_db()
    keycache.clear()
    with pytest.raises(SealingError, match="does not open"):
        keycache.keystore_private_key(target)
    # Twin: the very same box opens on its own row.
    source.refresh_from_db()
    assert keycache.keystore_private_key(source).private_numbers() == (
        keymaterial.private_key_from_sealed_der(der_of(fx.KEY1_PEM)).private_numbers()
    )


def test_keystore_does_not_open_under_a_wrong_master_key(
    organization: Organization, actor: Actor, settings: Any
) -> None:
    keystore = services.keystore_secret_create(organization=organization, name="Secret", actor=actor)
    settings.KEYPROFILES = {"MASTER_KEYS": f"test-1:{OTHER_MASTER_KEY}"}
    keycache.clear()
    with pytest.raises(SealingError, match="wrong master key"):
        keycache.keystore_secret(keystore)


def test_keystore_opens_after_the_active_master_key_changed(
    organization: Organization, actor: Actor, settings: Any
) -> None:
    before = services.keystore_secret_create(organization=organization, name="Before", actor=actor)
    secret = keycache.keystore_secret(before)
    settings.KEYPROFILES = {
        "MASTER_KEYS": f"test-2:{OTHER_MASTER_KEY},test-1:{TEST_MASTER_KEY}",
        "ACTIVE_MASTER_KEY_ID": "test-2",
    }
    keycache.clear()
    assert keycache.keystore_secret(before) == secret
    after = services.keystore_secret_create(organization=organization, name="After", actor=actor)
    assert after.sealed_key_id == "test-2"


def test_keystore_sealed_under_a_removed_master_key_names_it(
    organization: Organization, actor: Actor, settings: Any
) -> None:
    keystore = services.keystore_secret_create(organization=organization, name="Secret", actor=actor)
    settings.KEYPROFILES = {"MASTER_KEYS": f"test-2:{OTHER_MASTER_KEY}"}
    keycache.clear()
    with pytest.raises(SealingError, match="Master key 'test-1' is not in PORTAL_MASTER_KEYS"):
        keycache.keystore_secret(keystore)


# The per-process key cache


@pytest.fixture
def parse_count(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    calls: list[bytes] = []
    original = keymaterial.private_key_from_sealed_der

    def counting(der: bytes) -> Any:
        calls.append(der)
        return original(der)

    monkeypatch.setattr(keymaterial, "private_key_from_sealed_der", counting)
    return calls


def test_keycache_parses_a_key_once(organization: Organization, actor: Actor, parse_count: list[bytes]) -> None:
    keystore = services.keystore_import(
        organization=organization,
        name="JWT Keystore",
        certificate=fx.CERT1_PEM.encode(),
        private_key=fx.KEY1_PEM.encode(),
        actor=actor,
    )
    first = keycache.keystore_private_key(keystore)
    second = keycache.keystore_private_key(Keystore.objects.get(pk=keystore.pk))
    assert first is second
    assert len(parse_count) == 1


def test_keycache_parses_again_after_clear(organization: Organization, actor: Actor, parse_count: list[bytes]) -> None:
    keystore = services.keystore_import(
        organization=organization,
        name="JWT Keystore",
        certificate=fx.CERT1_PEM.encode(),
        private_key=fx.KEY1_PEM.encode(),
        actor=actor,
    )
    keycache.keystore_private_key(keystore)
    keycache.clear()
    keycache.keystore_private_key(keystore)
    assert len(parse_count) == 2


def test_keycache_keeps_a_secret_without_unsealing_again(
    organization: Organization, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    keystore = services.keystore_secret_create(organization=organization, name="Secret", actor=actor)
    secret = keycache.keystore_secret(keystore)
    assert len(secret) == 32
    # Once cached, the sealed box is not read again: even a ring that cannot open it is not consulted.
    monkeypatch.setattr(keycache, "master_key_ring", lambda: pytest.fail("unsealed twice"))
    assert keycache.keystore_secret(keystore) == secret
