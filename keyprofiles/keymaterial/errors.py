"""KeyMaterialError, the one refusal of key material, and the sentences it carries.

Every refusal has a stable ``code``, the ``field`` at fault and a sentence an operator can act on; messages
never hold key bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509

from keyprofiles.errors import KeyProfilesError

_FIELD_NOUNS = {
    "certificate": "certificate file",
    "private_key": "private key file",
    "chain": "chain file",
    "pkcs12": "PKCS#12 file",
    "password": "password",
    "secret": "secret",
}


class KeyMaterialError(KeyProfilesError):
    """A user's key material is refused.

    ``code`` is a stable identifier (``rsa_key_too_small``, ``wrong_password``, ...); ``field`` names the
    input at fault ('certificate', 'private_key', 'chain', 'pkcs12', 'password', 'common_name', 'key_type',
    'bits', 'curve', 'days', 'secret') or is None; ``str(e)`` is a sentence a person can act on.
    """

    def __init__(self, message: str, *, code: str, field: str | None = None) -> None:
        super().__init__(message, code=code, field=field)


def password_required() -> KeyMaterialError:
    return KeyMaterialError(
        "The private key is encrypted: enter its passphrase in the password field.",
        code="password_required",
        field="password",
    )


def wrong_password() -> KeyMaterialError:
    return KeyMaterialError(
        "The password does not decrypt the private key (or the key file is damaged).",
        code="wrong_password",
        field="password",
    )


def unsupported_key_algorithm() -> KeyMaterialError:
    return KeyMaterialError(
        "The private key uses a key type or encryption the portal cannot read; use an RSA or EC key, "
        "unencrypted or encrypted with PKCS#8 and AES.",
        code="unsupported_key_type",
        field="private_key",
    )


def pkcs12_password_refusal(passwords: list[bytes | None]) -> KeyMaterialError:
    if None in passwords:
        return KeyMaterialError(
            "The PKCS#12 file is protected by a password: enter it.", code="password_required", field="password"
        )
    return KeyMaterialError(
        "The password does not open the PKCS#12 file (or the file is damaged).",
        code="wrong_password",
        field="password",
    )


def unreadable_pkcs12_key() -> KeyMaterialError:
    return KeyMaterialError(
        "The PKCS#12 file's private key cannot be read: the file is damaged or its key is invalid.",
        code="invalid_private_key",
        field="pkcs12",
    )


def unsupported_pkcs12_algorithm() -> KeyMaterialError:
    return KeyMaterialError(
        "The PKCS#12 file uses an encryption or key algorithm the portal cannot read; export it again with "
        "AES-256 encryption and an RSA or EC key.",
        code="unsupported_key_type",
        field="pkcs12",
    )


def capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def field_noun(field: str) -> str:
    return _FIELD_NOUNS.get(field, f"{field} file")


def quoted_name(name: x509.Name) -> str:
    """A distinguished name for a message, quoted and cut short (certificates may carry long names)."""
    text = name.rfc4514_string() or "(empty name)"
    return repr(text if len(text) <= 100 else text[:97] + "...")


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def or_list(items: Sequence[object]) -> str:
    words = [str(item) for item in items]
    return ", ".join(words[:-1]) + " or " + words[-1]
