"""What key material may be: sizes, key types, curves and key-derivation costs, and the cheap checks of them."""

from __future__ import annotations

from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec

from keyprofiles.keymaterial.errors import KeyMaterialError, field_noun

MAX_UPLOAD_BYTES = 1024 * 1024
MAX_CHAIN_LENGTH = 10
RSA_MIN_BITS, RSA_MAX_BITS = 2048, 8192
RSA_PUBLIC_EXPONENT = 65537
GENERATE_RSA_BITS = (2048, 3072, 4096)
CURVES = ("P-256", "P-384", "P-521")
MIN_SECRET_BYTES = 32
MAX_COMMON_NAME_LENGTH = 64  # ub-common-name, RFC 5280 appendix A.1
MAX_DAYS = 3650
MAX_NAME_LENGTH = 500  # RFC 4514 text of a subject or issuer; what the Keystore and Truststore rows hold
MAX_SERIAL_BITS = 160  # 20 octets, RFC 5280 section 4.1.2.2
# An encrypted upload names its own key-derivation cost; a file asking for billions of PBKDF2 iterations
# would tie up a worker for minutes. OpenSSL writes 2,048, OWASP recommends 600,000 for PBKDF2-SHA256.
MAX_KDF_ITERATIONS = 5_000_000
# ... and in all, per file: a PKCS#12 file may repeat a key bag at the cap hundreds of times (each decrypted by
# the loader), so the sum of what one file asks for is bounded too (a MAC, a container and a key at the cap).
MAX_KDF_ITERATIONS_PER_FILE = 3 * MAX_KDF_ITERATIONS
MAX_SCRYPT_COST = 2**20
MAX_SCRYPT_BLOCKS = 64  # scrypt's r times p; its work grows with both, and tools write 8 times 1
# A key larger than this gets the larger CPU budget in the PKCS#12 child process (``KEYPROFILES`` settings
# PKCS12_CPU_SECONDS and PKCS12_LARGE_KEY_CPU_SECONDS: keyprofiles/conf.py).
PKCS12_LARGE_KEY_BITS = 4096

CURVE_BY_NAME: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}
CURVE_NAME_BY_OPENSSL_NAME = {curve.name: name for name, curve in CURVE_BY_NAME.items()}


def require_aware(now: datetime) -> None:
    assert now.utcoffset() is not None, "now must be an aware datetime"


def check_size(data: bytes, field: str) -> None:
    if len(data) > MAX_UPLOAD_BYTES:
        raise KeyMaterialError(
            f"The {field_noun(field)} is larger than 1 MiB ({len(data):,} bytes); key material is far smaller.",
            code="file_too_large",
            field=field,
        )


def check_upload_size(data: bytes, field: str) -> None:
    check_size(data, field)
    if not data.strip():
        raise KeyMaterialError(f"The {field_noun(field)} is empty.", code="empty_file", field=field)


def check_chain_length(length: int, field: str) -> None:
    if length > MAX_CHAIN_LENGTH:
        raise KeyMaterialError(
            f"The chain holds {length} certificates; at most {MAX_CHAIN_LENGTH} intermediates are accepted.",
            code="chain_too_long",
            field=field,
        )
