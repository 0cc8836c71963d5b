"""Private and public keys: the one module that parses keys with ``cryptography``'s key loaders.

ruff bans ``load_pem_private_key``, ``load_der_private_key`` and ``pkcs12`` everywhere else (pyproject.toml),
so every way a private key is read, from an upload, a PKCS#12 file or sealed storage, passes through here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import (
    load_der_private_key,  # noqa: TID251
    load_pem_private_key,  # noqa: TID251
)
from cryptography.hazmat.primitives.serialization import pkcs12 as pkcs12_format  # noqa: TID251

from keyprofiles.keymaterial.ber import KeyBag, check_encrypted_pkcs8, pkcs12_outline
from keyprofiles.keymaterial.errors import (
    KeyMaterialError,
    or_list,
    password_required,
    pkcs12_password_refusal,
    unreadable_pkcs12_key,
    unsupported_key_algorithm,
    unsupported_pkcs12_algorithm,
    wrong_password,
)
from keyprofiles.keymaterial.facts import PrivateKey, PublicKey
from keyprofiles.keymaterial.limits import (
    CURVE_NAME_BY_OPENSSL_NAME,
    CURVES,
    PKCS12_LARGE_KEY_BITS,
    RSA_MAX_BITS,
    RSA_MIN_BITS,
    RSA_PUBLIC_EXPONENT,
)
from keyprofiles.keymaterial.pem import (
    CERTIFICATE_LABELS,
    IGNORED_KEY_FILE_LABELS,
    PRIVATE_KEY_LABELS,
    pem_blocks,
    unknown_format,
)


def private_key_from_sealed_der(der: bytes) -> PrivateKey:
    """Load a PKCS#8 DER key that comes back from sealed storage, for signing.

    It skips the RSA consistency check on purpose, and that is safe here: every stored key passed the full
    check at upload (or was generated here), and the sealed box is AES-GCM with the row's identity as
    associated data, so what opens is byte for byte what was checked. The check (primality tests of p and q)
    costs about 40 ms for a 2048-bit key and 0.3 s for a 4096-bit one, against microseconds without it,
    and would otherwise be paid by every process for every key.
    Raises KeyMaterialError if the bytes are not an RSA or EC key (which means a programming error).
    """
    try:
        key = load_der_private_key(der, None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise KeyMaterialError("The stored private key cannot be read.", code="invalid_private_key") from e
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyMaterialError("The stored private key is not an RSA or EC key.", code="unsupported_key_type")
    return key


Pkcs12Contents: TypeAlias = tuple[PrivateKeyTypes | None, x509.Certificate | None, list[x509.Certificate]]


def load_private_key(data: bytes, password: bytes | None) -> PrivateKeyTypes:
    """Steps (2) and (3) for the private key file: its format, then its decryption.

    Loads without the RSA consistency check, which runs later, once the key's size is known to be sane.
    """
    field = "private_key"
    blocks = pem_blocks(data, field)
    if blocks is None:
        return _load_der_private_key(data, password)
    key_blocks = [block for block in blocks if block.label not in IGNORED_KEY_FILE_LABELS]
    if len(key_blocks) != 1 or key_blocks[0].label not in PRIVATE_KEY_LABELS:
        labels = [block.label for block in key_blocks]
        if len(labels) > 1:
            what = f"{len(labels)} PEM blocks ({', '.join(labels)}); upload the private key on its own"
        elif labels and labels[0] in CERTIFICATE_LABELS:
            what = "a certificate, not a private key; upload it in the certificate field"
        elif labels and "PUBLIC KEY" in labels[0]:
            what = "a public key, not a private key"
        else:
            what = f"a {labels[0]!r} block, not a private key" if labels else "no private key"
        raise KeyMaterialError(f"The private key file holds {what}.", code="not_a_private_key", field=field)
    block = key_blocks[0]
    if block.encrypted and password is None:
        raise password_required()
    if block.label == "ENCRYPTED PRIVATE KEY":
        check_encrypted_pkcs8(block.der, field)
    try:
        return load_pem_private_key(
            block.text, password if block.encrypted else None, unsafe_skip_rsa_key_validation=True
        )
    except TypeError as e:
        raise password_required() from e
    except ValueError as e:
        if block.encrypted:
            raise wrong_password() from e
        raise KeyMaterialError(
            f"The private key file's {block.label} block cannot be read: the key is damaged or invalid.",
            code="invalid_private_key",
            field=field,
        ) from e
    except UnsupportedAlgorithm as e:
        raise unsupported_key_algorithm() from e


def _load_der_private_key(data: bytes, password: bytes | None) -> PrivateKeyTypes:
    try:
        return load_der_private_key(data, None, unsafe_skip_rsa_key_validation=True)
    except TypeError:
        pass  # encrypted (PKCS#8 EncryptedPrivateKeyInfo): decrypt below
    except ValueError as e:
        if _is_der_certificate(data):
            raise KeyMaterialError(
                "The private key file holds a certificate, not a private key; upload it in the certificate field.",
                code="not_a_private_key",
                field="private_key",
            ) from e
        raise unknown_format(data, "private_key", "private key") from e
    except UnsupportedAlgorithm as e:
        raise unsupported_key_algorithm() from e
    if password is None:
        raise password_required()
    check_encrypted_pkcs8(data, "private_key")
    try:
        return load_der_private_key(data, password, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError) as e:
        raise wrong_password() from e
    except UnsupportedAlgorithm as e:
        raise unsupported_key_algorithm() from e


def is_der_private_key(data: bytes) -> bool:
    try:
        load_der_private_key(data, None, unsafe_skip_rsa_key_validation=True)
    except TypeError:
        return True  # encrypted
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True


def _is_der_certificate(data: bytes) -> bool:
    try:
        x509.load_der_x509_certificate(data)
    except ValueError:
        return False
    return True


def public_key_or_none(cert: x509.Certificate) -> object:
    """The certificate's public key, or None when its algorithm is one ``cryptography`` cannot read."""
    try:
        return cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None


def check_certificate_key(cert: x509.Certificate, *, field: str, what: str) -> PublicKey:
    return check_public_key(public_key_or_none(cert), field=field, what=f"The public key of {what}")


def check_public_key(public_key: object, *, field: str, what: str) -> PublicKey:
    """Step (4): check key type, size, exponent or curve (DESIGN.md section 6); cheap, no primality test."""
    if isinstance(public_key, rsa.RSAPublicKey):
        bits = public_key.key_size
        if bits < RSA_MIN_BITS:
            raise KeyMaterialError(
                f"{what} is a {bits}-bit RSA key; RSA keys need {RSA_MIN_BITS} to {RSA_MAX_BITS} bits.",
                code="rsa_key_too_small",
                field=field,
            )
        if bits > RSA_MAX_BITS:
            raise KeyMaterialError(
                f"{what} is a {bits}-bit RSA key; RSA keys may have at most {RSA_MAX_BITS} bits.",
                code="rsa_key_too_large",
                field=field,
            )
        exponent = public_key.public_numbers().e
        if exponent != RSA_PUBLIC_EXPONENT:
            shown = str(exponent) if exponent.bit_length() <= 64 else "a very large number"
            raise KeyMaterialError(
                f"{what} has the RSA public exponent {shown}; only {RSA_PUBLIC_EXPONENT} is accepted.",
                code="rsa_bad_exponent",
                field=field,
            )
        return public_key
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in CURVE_NAME_BY_OPENSSL_NAME:
            raise KeyMaterialError(
                f"{what} is on the elliptic curve {public_key.curve.name}; only {or_list(CURVES)} are accepted.",
                code="unsupported_curve",
                field=field,
            )
        return public_key
    raise KeyMaterialError(
        f"{what} is {key_type_phrase(public_key)}; only RSA and EC keys are accepted.",
        code="unsupported_key_type",
        field=field,
    )


def fully_checked_private_key(key: PrivateKeyTypes, *, field: str, what: str) -> tuple[PrivateKey, bytes]:
    """The key reloaded with every check (for RSA: primality of p and q, n = pq, d and the CRT values),
    and its unencrypted PKCS#8 DER. Call only after ``check_public_key`` accepted its size."""
    der = pkcs8_der(key)
    try:
        checked = load_der_private_key(der, None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise KeyMaterialError(
            f"{what} is invalid: its numbers are inconsistent, so it is damaged or was built wrongly.",
            code="invalid_private_key",
            field=field,
        ) from e
    assert isinstance(checked, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)  # check_public_key ran
    return checked, der


@dataclass(frozen=True)
class _OpenedBy:
    password: bytes | None = field(repr=False)


def _precheck_pkcs12_keys(key_bags: Sequence[KeyBag], passwords: list[bytes | None]) -> tuple[_OpenedBy | None, int]:
    """Open every key bag of a PKCS#12 outline and check its key's type and size, before the full loader
    runs its RSA consistency check (whose primality tests a huge crafted key would stretch to minutes).

    Returns the password that opened the encrypted bags (None when every bag is unencrypted) and the size
    in bits of the largest RSA key (0 for none). A bag that no candidate password opens is refused here
    (``password_required`` or ``wrong_password``), so the full loader never meets a key of these bags whose
    size went unchecked. The key inside an encrypted bag is read as DER, as the PKCS#8 loader reads it; one
    in BER would count as not opened (no tool writes one).
    """
    opened = None
    rsa_bits = 0
    what = "The PKCS#12 file's private key"
    for bag in key_bags:
        der = bag.node.der
        try:
            if not bag.encrypted:
                key = load_der_private_key(der, None, unsafe_skip_rsa_key_validation=True)
            elif not _is_encrypted_der_private_key(der):
                raise unreadable_pkcs12_key()
            else:
                for candidate in passwords:
                    try:
                        key = load_der_private_key(der, candidate, unsafe_skip_rsa_key_validation=True)
                    except (ValueError, TypeError):
                        continue
                    opened = opened or _OpenedBy(candidate)
                    break
                else:
                    raise pkcs12_password_refusal(passwords)
        except (ValueError, TypeError) as e:
            raise unreadable_pkcs12_key() from e
        except UnsupportedAlgorithm as e:
            raise unsupported_pkcs12_algorithm() from e
        public_key = check_public_key(key.public_key(), field="pkcs12", what=what)
        if isinstance(public_key, rsa.RSAPublicKey):
            rsa_bits = max(rsa_bits, public_key.key_size)
    return opened, rsa_bits


def _is_encrypted_der_private_key(der: bytes) -> bool:
    """Whether ``der`` reads as an EncryptedPrivateKeyInfo (the loader asks for a password)."""
    try:
        load_der_private_key(der, None)
    except TypeError:
        return True
    except (ValueError, UnsupportedAlgorithm):
        return False
    return False


def _private_key_from_child_der(der: bytes) -> PrivateKeyTypes:
    """A key the PKCS#12 child process loaded and checked, read back from the PKCS#8 DER it wrote (so without
    the RSA consistency check a second time). Raises ValueError, TypeError or UnsupportedAlgorithm."""
    return load_der_private_key(der, None, unsafe_skip_rsa_key_validation=True)


def _open_pkcs12(data: bytes, password: bytes | None, *, allow_large_key: Callable[[], None]) -> Pkcs12Contents:
    """What the child does with a PKCS#12 file: open its visible key bags and check their sizes, then run
    the loader, with ``password`` or, without one, with none and with an empty one (tools differ on what
    "no password" means). Calls ``allow_large_key`` before the loader when a key has more than
    ``PKCS12_LARGE_KEY_BITS``. Raises KeyMaterialError."""
    passwords: list[bytes | None] = [password] if password is not None else [None, b""]
    # The loader runs the RSA consistency check, so first read the key sizes from the key bags.
    opened_by, rsa_bits = _precheck_pkcs12_keys(pkcs12_outline(data).key_bags, passwords)
    if opened_by is not None:
        passwords = [opened_by.password]
    if rsa_bits > PKCS12_LARGE_KEY_BITS:
        allow_large_key()
    for candidate in passwords:
        try:
            # For a BER file this warns that the loader fell back from DER to BER and may refuse BER one day;
            # the outline already read the BER, and the twin tests would fail. The parent gives it again.
            return pkcs12_format.load_key_and_certificates(data, candidate)
        except ValueError as e:
            if opened_by is not None:
                raise KeyMaterialError(
                    "The PKCS#12 file could not be read although its password opens the private key: the "
                    "file is damaged, or its private key or a certificate in it is invalid.",
                    code="invalid_private_key",
                    field="pkcs12",
                ) from e
        except UnsupportedAlgorithm as e:
            raise unsupported_pkcs12_algorithm() from e
    raise pkcs12_password_refusal(passwords)


def public_key_facts(public_key: PublicKey) -> tuple[str, int, str | None]:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA", public_key.key_size, None
    return "EC", public_key.curve.key_size, CURVE_NAME_BY_OPENSSL_NAME.get(public_key.curve.name)


def same_public_key(a: object, b: object) -> bool:
    if isinstance(a, rsa.RSAPublicKey) and isinstance(b, rsa.RSAPublicKey):
        return a.public_numbers() == b.public_numbers()
    if isinstance(a, ec.EllipticCurvePublicKey) and isinstance(b, ec.EllipticCurvePublicKey):
        return a.curve.name == b.curve.name and a.public_numbers() == b.public_numbers()
    return False


def pkcs8_der(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def key_type_phrase(key: object) -> str:
    for types, phrase in (
        ((ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey), "an Ed25519 key"),
        ((ed448.Ed448PublicKey, ed448.Ed448PrivateKey), "an Ed448 key"),
        ((dsa.DSAPublicKey, dsa.DSAPrivateKey), "a DSA key"),
    ):
        if isinstance(key, types):
            return phrase
    return "a key of an unsupported type"
