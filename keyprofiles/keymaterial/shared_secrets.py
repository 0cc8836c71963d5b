"""Shared secrets for HS256/384/512: generated, or uploaded as raw bytes, hex or base64."""

from __future__ import annotations

import base64
import binascii
import re
import secrets

from keyprofiles.keymaterial.errors import KeyMaterialError
from keyprofiles.keymaterial.limits import MIN_SECRET_BYTES, check_upload_size


def secret_generate(nbytes: int = MIN_SECRET_BYTES) -> bytes:
    """``nbytes`` random bytes from the OS's CSPRNG. Raises ValueError below 32 (a programming error)."""
    if nbytes < MIN_SECRET_BYTES:
        raise ValueError(f"A generated secret has at least {MIN_SECRET_BYTES} bytes.")
    return secrets.token_bytes(nbytes)


_HEX_TEXT = re.compile(rb"(?:[0-9A-Fa-f]{2})+")
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/_-]+={0,2}")


def secret_from_upload(data: bytes) -> bytes:
    """A shared secret from an upload: hex text, else base64 or base64url text, else the raw bytes.

    Text counts as hex or base64 when, apart from surrounding whitespace and line breaks, it consists only of
    that alphabet; anything else (binary, or text with spaces) is taken as raw bytes. The result must have
    at least 32 bytes (RFC 7518 section 3.2: an HS256 key is at least as long as the hash), else
    KeyMaterialError ``secret_too_short``.
    """
    check_upload_size(data, "secret")
    compact = b"".join(data.strip().splitlines())
    secret, kind = data, "raw bytes"
    if _HEX_TEXT.fullmatch(compact):
        secret, kind = bytes.fromhex(compact.decode("ascii")), "hex"
    elif _BASE64_TEXT.fullmatch(compact):
        standard = compact.replace(b"-", b"+").replace(b"_", b"/").rstrip(b"=")
        try:
            secret = base64.b64decode(standard + b"=" * (-len(standard) % 4), validate=True)
            kind = "base64"
        except binascii.Error:
            pass  # not base64 after all (a length no base64 text has): the raw bytes are the secret
    if len(secret) < MIN_SECRET_BYTES:
        raise KeyMaterialError(
            f"The secret has {len(secret)} bytes (read as {kind}); at least {MIN_SECRET_BYTES} are needed.",
            code="secret_too_short",
            field="secret",
        )
    return secret
