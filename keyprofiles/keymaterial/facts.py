"""What checked key material is: the facts kept about a certificate, and a key pair ready to store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeAlias

from cryptography.hazmat.primitives.asymmetric import ec, rsa

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class CertificateInfo:
    """The facts the portal keeps and shows about one certificate."""

    pem: str
    fingerprint_sha256: str  # upper-case hex pairs joined by ':'
    subject: str  # RFC 4514
    issuer: str  # RFC 4514
    serial_number: str  # upper-case hex
    key_type: str  # 'RSA' or 'EC'
    key_size: int  # bits; for EC the curve's size
    curve: str | None  # 'P-256', 'P-384', 'P-521' or None
    not_before: datetime  # aware, UTC
    not_after: datetime  # aware, UTC

    def days_to_expiry(self, now: datetime) -> int:
        """Whole days from ``now`` to ``not_after``, rounded down; negative once the certificate expired."""
        return (self.not_after - now) // timedelta(days=1)


@dataclass(frozen=True)
class KeystoreMaterial:
    """A checked key pair, ready to store. The caller seals ``private_key_der`` at once; it is never shown."""

    private_key_der: bytes = field(repr=False)  # PKCS#8 DER, unencrypted
    certificate: CertificateInfo
    chain: tuple[CertificateInfo, ...]  # intermediates, the leaf's issuer first
    key_type: str
    key_size: int
    curve: str | None
