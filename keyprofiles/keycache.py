"""Unsealed, parsed keys, kept per process (DESIGN.md section 5: never parse a key per request).

A keystore's key material never changes after upload (rotation makes a new keystore), so the keystore's
``uid`` identifies its key for the life of the process; re-sealing under a new master key changes the box,
not the key. Keys were checked once at upload, so they are loaded here without the expensive RSA check.
"""

from __future__ import annotations

import threading
import uuid

from keyprofiles import keymaterial
from keyprofiles.keymaterial import PrivateKey
from keyprofiles.models import Keystore
from keyprofiles.sealing import SealedBox, master_key_ring

_lock = threading.Lock()
_private_keys: dict[uuid.UUID, PrivateKey] = {}
_secrets: dict[uuid.UUID, bytes] = {}


def _unseal(keystore: Keystore) -> bytes:
    box = SealedBox(
        key_id=keystore.sealed_key_id,
        nonce=bytes(keystore.sealed_nonce),
        ciphertext=bytes(keystore.sealed_ciphertext),
    )
    return master_key_ring().unseal(box, identity=keystore.seal_identity)


def keystore_private_key(keystore: Keystore) -> PrivateKey:
    """The keystore's parsed private key. Raises SealingError when the sealed box does not open."""
    key = _private_keys.get(keystore.uid)
    if key is None:
        key = keymaterial.private_key_from_sealed_der(_unseal(keystore))
        with _lock:
            _private_keys[keystore.uid] = key
    return key


def keystore_secret(keystore: Keystore) -> bytes:
    """The keystore's shared secret. Raises SealingError when the sealed box does not open."""
    secret = _secrets.get(keystore.uid)
    if secret is None:
        secret = _unseal(keystore)
        with _lock:
            _secrets[keystore.uid] = secret
    return secret


def forget(uid: uuid.UUID) -> None:
    """Drop one keystore's key from this process (it was deleted)."""
    with _lock:
        _private_keys.pop(uid, None)
        _secrets.pop(uid, None)


def clear() -> None:
    """Forget every cached key (tests, and after a keystore is deleted)."""
    with _lock:
        _private_keys.clear()
        _secrets.clear()
