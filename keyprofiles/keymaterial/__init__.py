"""Key material: parse, check and build private keys and certificates (DESIGN.md sections 2 and 6).

This package is the only code that parses key material with ``cryptography`` (ruff bans its key loaders
everywhere but ``keys``), so every rule about what a keystore or truststore may hold lives here:

* uploads are at most 1 MiB a file; PEM (with nothing but whitespace around its blocks) or DER, or PKCS#12;
* RSA keys have 2048 to 8192 bits and e = 65537; EC keys are on P-256, P-384 or P-521;
* the key must match the certificate, the certificate must be valid now, and each chain certificate must
  have issued the one before it.

Its modules, one concern each:

* ``uploads``: keystore and truststore uploads (PEM, DER, PKCS#12), every check, cheap ones first;
* ``generation``: key pairs and self-signed certificates made in the portal;
* ``stored``: public keys and facts of stored certificates;
* ``jwk``: public JWKs and RFC 7638 key ids, the one implementation the JWKS, console and codec use;
* ``shared_secrets``: HMAC secrets, generated or uploaded;
* ``pem``: PEM blocks and format detection;
* ``certificates``: X.509 parsing, field checks, validity, chain order;
* ``keys``: private and public keys, the only module that calls ``cryptography``'s key loaders;
* ``ber``: the BER/DER reader, key-derivation costs and the PKCS#12 outline, read before decrypting;
* ``pkcs12_child``: the child process that opens PKCS#12 files under CPU and memory limits;
* ``limits``: sizes, key types, curves and cost caps, and their cheap checks;
* ``errors``: ``KeyMaterialError`` and the sentences of its messages;
* ``facts``: ``CertificateInfo`` and ``KeystoreMaterial``.

Encoded input is read the way the loaders read it: PKCS#12 in BER (indefinite lengths, constructed OCTET
STRINGs), as ``cryptography``'s PKCS#12 loader does, and encrypted PKCS#8 in DER only, as its key loader does;
what the pre-checks cannot read is refused before any decryption, never skipped.

Every refusal is a ``KeyMaterialError`` with a stable ``code``, the ``field`` at fault and a sentence an
operator can act on; library exceptions never escape. Messages, reprs and logs never hold key bytes.

Code outside the package uses the names re-exported here (``keymaterial.public_jwk(...)``); the modules' other
names are the package's own.
"""

from keyprofiles.keymaterial.errors import KeyMaterialError
from keyprofiles.keymaterial.facts import CertificateInfo, KeystoreMaterial, PrivateKey, PublicKey
from keyprofiles.keymaterial.generation import keystore_material_generate
from keyprofiles.keymaterial.jwk import jwk_thumbprint, key_id, public_jwk, secret_thumbprint
from keyprofiles.keymaterial.keys import private_key_from_sealed_der
from keyprofiles.keymaterial.limits import (
    CURVES,
    GENERATE_RSA_BITS,
    MAX_CHAIN_LENGTH,
    MAX_COMMON_NAME_LENGTH,
    MAX_DAYS,
    MAX_KDF_ITERATIONS,
    MAX_KDF_ITERATIONS_PER_FILE,
    MAX_NAME_LENGTH,
    MAX_SCRYPT_BLOCKS,
    MAX_SCRYPT_COST,
    MAX_SERIAL_BITS,
    MAX_UPLOAD_BYTES,
    MIN_SECRET_BYTES,
    PKCS12_LARGE_KEY_BITS,
    RSA_MAX_BITS,
    RSA_MIN_BITS,
    RSA_PUBLIC_EXPONENT,
)
from keyprofiles.keymaterial.shared_secrets import secret_from_upload, secret_generate
from keyprofiles.keymaterial.stored import (
    certificate_der_b64,
    certificate_jwk,
    certificate_sha256_thumbprint,
    common_name_of,
    public_key_from_certificate_pem,
)
from keyprofiles.keymaterial.uploads import (
    certificates_from_upload,
    keystore_material_from_upload,
    keystore_upload_format,
    keystore_upload_problems,
)

__all__ = [
    "CURVES",
    "GENERATE_RSA_BITS",
    "MAX_CHAIN_LENGTH",
    "MAX_COMMON_NAME_LENGTH",
    "MAX_DAYS",
    "MAX_KDF_ITERATIONS",
    "MAX_KDF_ITERATIONS_PER_FILE",
    "MAX_NAME_LENGTH",
    "MAX_SCRYPT_BLOCKS",
    "MAX_SCRYPT_COST",
    "MAX_SERIAL_BITS",
    "MAX_UPLOAD_BYTES",
    "MIN_SECRET_BYTES",
    "PKCS12_LARGE_KEY_BITS",
    "RSA_MAX_BITS",
    "RSA_MIN_BITS",
    "RSA_PUBLIC_EXPONENT",
    "CertificateInfo",
    "KeyMaterialError",
    "KeystoreMaterial",
    "PrivateKey",
    "PublicKey",
    "certificate_der_b64",
    "certificate_jwk",
    "certificate_sha256_thumbprint",
    "certificates_from_upload",
    "common_name_of",
    "jwk_thumbprint",
    "key_id",
    "keystore_material_from_upload",
    "keystore_material_generate",
    "keystore_upload_format",
    "keystore_upload_problems",
    "private_key_from_sealed_der",
    "public_jwk",
    "public_key_from_certificate_pem",
    "secret_from_upload",
    "secret_generate",
    "secret_thumbprint",
]
