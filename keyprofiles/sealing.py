"""Sealing private keys and shared secrets at rest (DESIGN.md section 6).

Each secret is encrypted with AES-256-GCM under one key of the master key ring. The stored box is the
master key id, a fresh 96-bit nonce and the ciphertext (with its tag); the row's identity is the associated
data, so a box copied onto another row does not open. Any number of old master keys may stay in the ring
to open boxes sealed under them while ``rotate_master_key`` re-seals everything under the active one.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from keyprofiles.conf import keyprofiles_settings
from keyprofiles.errors import KeyProfilesError

logger = logging.getLogger(__name__)

MASTER_KEY_BYTES = 32
NONCE_BYTES = 12


class SealingError(KeyProfilesError):
    """A sealed box cannot be opened: unknown master key id, wrong key, or tampered data or identity."""

    default_code = "sealed_box_unreadable"


@dataclass(frozen=True)
class SealedBox:
    key_id: str
    nonce: bytes
    ciphertext: bytes


class MasterKeyRing:
    """Master keys by id, and the id that seals new boxes."""

    def __init__(self, keys: dict[str, bytes], active_key_id: str) -> None:
        if not keys:
            raise ImproperlyConfigured("The master key ring is empty.")
        if active_key_id not in keys:
            raise ImproperlyConfigured(f"The active master key id {active_key_id!r} is not in the key ring.")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active_key_id = active_key_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    @classmethod
    def parse(cls, text: str, active_key_id: str = "") -> MasterKeyRing:
        """Parse ``"id:base64,id2:base64"``. Raises ImproperlyConfigured naming the bad entry (never its key)."""
        keys: dict[str, bytes] = {}
        for entry in (part.strip() for part in text.replace("\n", ",").split(",")):
            if not entry:
                continue
            key_id, sep, encoded = entry.partition(":")
            key_id = key_id.strip()
            if not sep or not key_id:
                raise ImproperlyConfigured("PORTAL_MASTER_KEYS entries must read 'id:base64key'.")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError) as e:
                raise ImproperlyConfigured(f"Master key {key_id!r} is not valid base64.") from e
            if len(key) != MASTER_KEY_BYTES:
                raise ImproperlyConfigured(
                    f"Master key {key_id!r} is {len(key)} bytes; AES-256-GCM needs exactly {MASTER_KEY_BYTES}."
                )
            if key_id in keys:
                raise ImproperlyConfigured(f"Master key id {key_id!r} appears twice.")
            keys[key_id] = key
        if not keys:
            raise ImproperlyConfigured("PORTAL_MASTER_KEYS holds no key.")
        return cls(keys, active_key_id or next(iter(keys)))

    def seal(self, plaintext: bytes, *, identity: bytes, key_id: str | None = None) -> SealedBox:
        """Seal under ``key_id`` (default: the active master key). Raises SealingError for an unknown id."""
        key_id = key_id or self.active_key_id
        cipher = self._keys.get(key_id)
        if cipher is None:
            raise SealingError(f"Master key {key_id!r} is not in PORTAL_MASTER_KEYS.")
        nonce = os.urandom(NONCE_BYTES)
        return SealedBox(key_id=key_id, nonce=nonce, ciphertext=cipher.encrypt(nonce, plaintext, identity))

    def unseal(self, box: SealedBox, *, identity: bytes) -> bytes:
        cipher = self._keys.get(box.key_id)
        if cipher is None:
            raise SealingError(f"Master key {box.key_id!r} is not in PORTAL_MASTER_KEYS; add it back to open this key.")
        try:
            return cipher.decrypt(box.nonce, box.ciphertext, identity)
        except InvalidTag as e:
            raise SealingError(
                "The sealed key does not open: wrong master key, or the data or its row were altered."
            ) from e


def new_master_key_text(key_id: str) -> str:
    """A fresh ring entry ``id:base64`` for a new 32-byte master key."""
    return f"{key_id}:{base64.b64encode(os.urandom(MASTER_KEY_BYTES)).decode()}"


def _development_ring_text(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_master_key_text("local-1") + "\n")
        print(
            f"WARNING: created a local development master key at {path}. It seals the private keys in the "
            "local database; keep it out of git and never use it in production (set PORTAL_MASTER_KEYS).",
            file=sys.stderr,
        )
    return path.read_text()


_ring: MasterKeyRing | None = None


def master_key_ring() -> MasterKeyRing:
    """The process's master key ring, built once from settings (or the development key file)."""
    global _ring
    if _ring is None:
        text = keyprofiles_settings.MASTER_KEYS
        if not text:
            key_file = keyprofiles_settings.MASTER_KEY_FILE
            if not key_file:
                raise ImproperlyConfigured("PORTAL_MASTER_KEYS is not set: private keys cannot be sealed.")
            text = _development_ring_text(Path(key_file))
        _ring = MasterKeyRing.parse(text, keyprofiles_settings.ACTIVE_MASTER_KEY_ID)
    return _ring


def _reset(*, setting: str, **kwargs: Any) -> None:
    global _ring
    if setting == "KEYPROFILES":
        _ring = None


setting_changed.connect(_reset)
