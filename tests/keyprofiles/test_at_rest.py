"""The database file holds no private key: neither its bytes nor its base64 body (issue "Foundation", done-when).

Runs the real commands in a subprocess against a file SQLite database, then reads the file itself.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from keyprofiles import keymaterial
from keyprofiles.sealing import MasterKeyRing, SealedBox
from tests.conftest import TEST_MASTER_KEY
from tests.keyfixtures import CERT1_PEM, KEY1_PEM
from tests.servers import manage

RING = f"test-1:{TEST_MASTER_KEY}"


def _env(var_dir: Path) -> dict[str, str]:
    env = {**os.environ, "PORTAL_VAR_DIR": str(var_dir), "PORTAL_MASTER_KEYS": RING}
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    env.pop("DATABASE_URL", None)
    env.pop("CACHE_URL", None)
    return env


def _pem_body(pem: bytes) -> bytes:
    return b"".join(line for line in pem.splitlines() if line and not line.startswith(b"-----"))


def _sealed_rows(database: Path) -> list[tuple[str, str, bytes, bytes]]:
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT uid, sealed_key_id, sealed_nonce, sealed_ciphertext FROM keyprofiles_keystore"
        ).fetchall()


@pytest.mark.slow
def test_the_database_file_holds_no_private_key_bytes_nor_base64(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text(CERT1_PEM)
    (tmp_path / "key.pem").write_text(KEY1_PEM)
    manage(_env(tmp_path), "migrate", "-v0")
    manage(_env(tmp_path), "seed_demo")  # generates "JWT Keystore"
    manage(
        _env(tmp_path),
        "import_keystore",
        "Uploaded",
        "--cert",
        str(tmp_path / "cert.pem"),
        "--key",
        str(tmp_path / "key.pem"),
    )
    database = tmp_path / "portal.sqlite3"
    content = database.read_bytes()
    for wal in tmp_path.glob("portal.sqlite3-*"):
        content += wal.read_bytes()

    rows = _sealed_rows(database)
    assert len(rows) == 2
    ring = MasterKeyRing.parse(RING)
    for uid, key_id, nonce, ciphertext in rows:
        identity = f"keyprofiles.keystore:{_uuid_text(uid)}".encode()
        der = ring.unseal(SealedBox(key_id, bytes(nonce), bytes(ciphertext)), identity=identity)
        key = keymaterial.private_key_from_sealed_der(der)
        pkcs8 = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        traditional = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        # Positive twin: the sealed box is in the file (so the search looks at the right bytes) ...
        assert bytes(ciphertext) in content
        # ... and no form of the key is: raw DER, PKCS#8 and PKCS#1 base64 bodies, nor a 64-byte slice of them.
        assert der not in content
        for body in (_pem_body(pkcs8), _pem_body(traditional)):
            assert body not in content
            assert body[64:128] not in content
        assert base64.b64encode(der)[:64] not in content


def _uuid_text(uid: str) -> str:
    """Django stores UUIDs in SQLite as 32 hex characters; the sealing identity uses the dashed form."""
    return str(uuid.UUID(uid))
