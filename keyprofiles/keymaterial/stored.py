"""Reading stored material back: public keys and facts of certificates that passed the upload checks."""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from keyprofiles.keymaterial.certificates import certificate_der, certificate_from_pem_text
from keyprofiles.keymaterial.errors import KeyMaterialError
from keyprofiles.keymaterial.facts import PublicKey
from keyprofiles.keymaterial.jwk import b64url, jwk_thumbprint, public_jwk
from keyprofiles.keymaterial.keys import key_type_phrase, public_key_or_none


def public_key_from_certificate_pem(pem: str) -> PublicKey:
    """The public key of a stored PEM certificate. Raises KeyMaterialError if it is not RSA or EC."""
    public_key = public_key_or_none(certificate_from_pem_text(pem))
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise KeyMaterialError(
            f"The certificate holds {key_type_phrase(public_key)}; only RSA and EC keys are supported.",
            code="unsupported_key_type",
            field="certificate",
        )
    return public_key


def certificate_jwk(pem: str) -> dict[str, str]:
    """The public JWK of a stored certificate's key with its ``kid`` (the RFC 7638 thumbprint), as the JWKS,
    the JWK download, the console and signed tokens name it. Raises KeyMaterialError if it is not RSA or EC."""
    jwk = public_jwk(public_key_from_certificate_pem(pem))
    return {**jwk, "kid": jwk_thumbprint(jwk)}


def common_name_of(pem: str) -> str | None:
    """The subject Common Name of a stored certificate, or None when it has none."""
    names = certificate_from_pem_text(pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        return None
    value = names[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def certificate_der_b64(pem: str) -> str:
    """The certificate as standard base64 of its DER, as an ``x5c`` entry holds it (RFC 7517 section 4.7)."""
    return base64.b64encode(certificate_der(pem)).decode("ascii")


def certificate_sha256_thumbprint(pem: str) -> str:
    """The ``x5t#S256`` value: base64url of the SHA-256 of the certificate's DER (RFC 7517 section 4.9)."""
    return b64url(hashlib.sha256(certificate_der(pem)).digest())
