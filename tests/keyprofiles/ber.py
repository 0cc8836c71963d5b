"""BER test vectors: PKCS#12 files re-encoded the way older Java keytool and Windows write them.

``ber_pkcs12`` turns a DER PKCS#12 made by ``cryptography`` into BER (every constructed element with an
indefinite length and end-of-contents, every OCTET STRING split into a constructed one of short segments,
down into the safes and key bags) and gives it a fresh, valid MAC, so a loader accepts it. It can rewrite
the key-derivation iteration counts of the MAC, the key bags or the encrypted containers on the way.

``hidden_key_bag_pkcs12`` adds what only a loader that decrypts sees: a second copy of the key bag inside
an encrypted container, placed before the visible one, with an iteration count of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: TID251 - tests build their input

# cryptography's notes on what the key material tests feed it on purpose: BER PKCS#12 (read after a fallback
# from DER), non-positive serial numbers and over-long Common Names (both refused or shown by the portal
# regardless). A test module that feeds them sets ``pytestmark = ODD_INPUT_WARNINGS``.
ODD_INPUT_WARNINGS = [
    pytest.mark.filterwarnings("ignore:PKCS#12 bundle could not be parsed as DER:UserWarning"),
    pytest.mark.filterwarnings("ignore:Parsed a serial number:cryptography.utils.CryptographyDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning"),
]
ROUNDS = 2048  # what the files are made with; no other INTEGER in their outer structure has this value
PASSWORD = b"p12-password"

_OID_DATA = bytes.fromhex("2a864886f70d010701")
_OID_ENCRYPTED_DATA = bytes.fromhex("2a864886f70d010706")
_OID_SHROUDED_KEY_BAG = bytes.fromhex("2a864886f70d010c0a0102")


def der_pkcs12(key: PrivateKeyTypes, certificate: x509.Certificate | None) -> bytes:
    """A DER PKCS#12 of ``key`` and ``certificate``: PBES2 (PBKDF2-SHA256, AES-256-CBC), HMAC-SHA256 MAC,
    ROUNDS iterations everywhere, password PASSWORD."""
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(PASSWORD)
    )
    return pkcs12.serialize_key_and_certificates(b"k", key, certificate, None, encryption)  # type: ignore[arg-type]


def ber_pkcs12(
    der: bytes,
    *,
    mac_rounds: int | None = None,
    rounds_in: str | None = None,
    rounds: int = 0,
    rng: random.Random | None = None,
) -> bytes:
    """``der`` re-encoded in BER with a valid HMAC-SHA256 MAC (unless ``mac_rounds`` rewrites the MAC's
    count, which leaves the MAC invalid). ``rounds_in`` ('key_bag' or 'container') names where ROUNDS
    becomes ``rounds``. With ``rng``, each element's length form and each OCTET STRING's segment size
    are drawn from it (some stay definite, some stay primitive) instead of always indefinite and 7."""
    encoder = BerEncoder(rng)
    version, auth_safe, mac_data = tlvs(tlvs(der)[0][1])
    _oid, explicit = tlvs(auth_safe[1])
    ((_tag, authenticated_safe),) = tlvs(explicit[1])
    authenticated_safe = encoder.reencode(authenticated_safe, rounds_in, rounds, context=None)
    digest_info, salt, iterations = tlvs(mac_data[1])
    algorithm, _digest = tlvs(digest_info[1])
    count = int.from_bytes(iterations[1], "big")
    digest = hmac.digest(pkcs12_kdf(PASSWORD, salt[1], 3, count, 32), authenticated_safe, "sha256")
    constructed, octets = encoder.constructed, encoder.octets
    mac = constructed(
        0x30,
        constructed(0x30, constructed(0x30, encoder.reencode(algorithm[1], None, 0, None)) + octets(digest))
        + octets(salt[1])
        + tlv(0x02, _integer(mac_rounds or count)),
    )
    safe = constructed(0x30, tlv(0x06, _OID_DATA) + constructed(0xA0, octets(authenticated_safe)))
    return constructed(0x30, tlv(*version) + safe + mac)


def hidden_key_bag_pkcs12(der: bytes, *, hidden_rounds: int) -> bytes:
    """``der`` (from ``der_pkcs12``) with one more encrypted container, first in its authenticated safe,
    holding a copy of its key bag whose own PBKDF2 asks for ``hidden_rounds`` iterations; then made BER with
    a valid MAC by ``ber_pkcs12``. The container is encrypted as the certificate container is (same PBES2
    parameters, ROUNDS iterations), so only its decryption shows the copy's count. With ``hidden_rounds``
    ROUNDS the copy is the same key, readable with PASSWORD; otherwise it no longer decrypts (the
    ciphertext was made for ROUNDS), which a loader finds out only after paying for the derivation."""
    version, auth_safe, mac_data = tlvs(tlvs(der)[0][1])
    _oid, explicit = tlvs(auth_safe[1])
    ((_tag, authenticated_safe),) = tlvs(explicit[1])
    certificate_container, key_container = tlvs(tlvs(authenticated_safe)[0][1])
    ((_octets_tag, safe_contents),) = tlvs(tlvs(key_container[1])[1][1])  # data: [0] EXPLICIT OCTET STRING
    ((_bags_tag, key_bags),) = tlvs(safe_contents)  # SafeContents: SEQUENCE OF SafeBag
    hidden_bags = _DER.reencode(key_bags, "key_bag", hidden_rounds, context=None)
    # EncryptedData (RFC 5652 section 8): version 0, EncryptedContentInfo (data, algorithm, [0] ciphertext)
    ((_content_tag, encrypted_data),) = tlvs(tlvs(certificate_container[1])[1][1])
    _version, (_info_tag, encrypted_content_info) = tlvs(encrypted_data)
    _type, algorithm, _ciphertext = tlvs(encrypted_content_info)
    ciphertext = _pbes2_encrypt(algorithm[1], tlv(0x30, hidden_bags))
    hidden_container = tlv(
        0x30,
        tlv(0x06, _OID_ENCRYPTED_DATA)
        + tlv(
            0xA0,
            tlv(0x30, tlv(0x02, b"\x00") + tlv(0x30, tlv(0x06, _OID_DATA) + tlv(*algorithm) + tlv(0x80, ciphertext))),
        ),
    )
    containers = hidden_container + tlv(*certificate_container) + tlv(*key_container)
    safe = tlv(0x30, tlv(0x06, _OID_DATA) + tlv(0xA0, tlv(0x04, tlv(0x30, containers))))
    return ber_pkcs12(tlv(0x30, tlv(*version) + safe + tlv(*mac_data)))


def _pbes2_encrypt(parameters: bytes, plaintext: bytes) -> bytes:
    """``plaintext`` encrypted with PASSWORD under PBES2 parameters of PBKDF2-HMAC-SHA256 and AES-256-CBC
    (RFC 8018 section 6.2), the algorithm ``der_pkcs12`` writes."""
    _pbes2_oid, (_tag, pbes2_parameters) = tlvs(parameters)
    (_kdf_tag, key_derivation), (_scheme_tag, scheme) = tlvs(pbes2_parameters)
    _pbkdf2_oid, (_params_tag, pbkdf2_parameters) = tlvs(key_derivation)
    (_salt_tag, salt), (_iterations_tag, iterations), *_ = tlvs(pbkdf2_parameters)
    _aes_oid, (_iv_tag, iv) = tlvs(scheme)
    kdf = PBKDF2HMAC(hashes.SHA256(), 32, salt, int.from_bytes(iterations, "big"))
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(kdf.derive(PASSWORD)), modes.CBC(iv)).encryptor()
    return encryptor.update(padder.update(plaintext) + padder.finalize()) + encryptor.finalize()


class BerEncoder:
    """Re-encodes DER as BER: constructed elements with indefinite lengths, OCTET STRINGs constructed of
    short segments; with an ``rng``, each such choice is drawn instead."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng

    def constructed(self, tag: int, body: bytes) -> bytes:
        if self.rng is not None and self.rng.random() < 0.3:
            return tlv(tag, body)
        return bytes([tag, 0x80]) + body + b"\x00\x00"

    def octets(self, content: bytes) -> bytes:
        """A constructed OCTET STRING, its first segment itself constructed (X.690 section 8.7.3)."""
        size = 7
        if self.rng is not None:
            if self.rng.random() < 0.3:
                return tlv(0x04, content)
            size = self.rng.randint(1, 64)
        first, rest = content[:size], content[size:]
        segments = b"".join(tlv(0x04, rest[i : i + size]) for i in range(0, len(rest), size))
        return self.constructed(0x24, self.constructed(0x24, tlv(0x04, first)) + segments)

    def reencode(self, der: bytes, rounds_in: str | None, rounds: int, context: str | None) -> bytes:
        """Every element of ``der`` in BER; INTEGER ROUNDS inside ``rounds_in`` becomes ``rounds``."""
        out = b""
        for tag, content in tlvs(der):
            if (
                tag == 0x02
                and context is not None
                and context == rounds_in
                and int.from_bytes(content, "big") == ROUNDS
            ):
                out += tlv(0x02, _integer(rounds))
            elif tag == 0x04:
                out += self.octets(content)
            elif tag & 0x20:
                out += self._reencode_constructed(tag, content, rounds_in, rounds, context)
            else:
                out += tlv(tag, content)
        return out

    def _reencode_constructed(
        self, tag: int, content: bytes, rounds_in: str | None, rounds: int, context: str | None
    ) -> bytes:
        children = tlvs(content)
        first = children[0] if children else None
        inner = context
        if tag == 0x30 and first == (0x06, _OID_SHROUDED_KEY_BAG):
            inner = "key_bag"
        elif tag == 0x30 and first == (0x06, _OID_ENCRYPTED_DATA):
            inner = "container"
        if tag == 0x30 and len(children) == 2 and first == (0x06, _OID_DATA):
            # a data ContentInfo: its OCTET STRING holds DER (SafeContents), re-encoded too
            ((_octet_tag, safe_contents),) = tlvs(children[1][1])
            reencoded = self.reencode(safe_contents, rounds_in, rounds, inner)
            return self.constructed(0x30, tlv(0x06, _OID_DATA) + self.constructed(0xA0, self.octets(reencoded)))
        return self.constructed(tag, self.reencode(content, rounds_in, rounds, inner))


class DerEncoder(BerEncoder):
    """Re-encodes DER as DER, for its INTEGER rewriting alone."""

    def constructed(self, tag: int, body: bytes) -> bytes:
        return tlv(tag, body)

    def octets(self, content: bytes) -> bytes:
        return tlv(0x04, content)


_DER = DerEncoder()
_PLAIN = BerEncoder()
indefinite = _PLAIN.constructed
split = _PLAIN.octets


def tlvs(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, content) of each DER element of ``data``."""
    items, offset = [], 0
    while offset < len(data):
        tag, length, offset = data[offset], data[offset + 1], offset + 2
        if length & 0x80:
            size = length & 0x7F
            length, offset = int.from_bytes(data[offset : offset + size], "big"), offset + size
        items.append((tag, data[offset : offset + length]))
        offset += length
    return items


def tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    width = (size.bit_length() + 7) // 8
    return bytes([tag, 0x80 | width]) + size.to_bytes(width, "big") + content


def _integer(value: int) -> bytes:
    return value.to_bytes(value.bit_length() // 8 + 1, "big")


def pkcs12_kdf(password: bytes, salt: bytes, purpose: int, iterations: int, size: int) -> bytes:
    """RFC 7292 appendix B.2 with SHA-256 (u = 32, v = 64): the key of a PKCS#12 MAC when ``purpose`` is 3."""
    u, v = 32, 64
    secret = (password.decode("ascii") + "\0").encode("utf-16-be")

    def fill(data: bytes) -> bytes:
        return (data * (-(-v * -(-len(data) // v) // max(len(data), 1))))[: v * -(-len(data) // v)]

    diversifier = bytes([purpose]) * v
    block = fill(salt) + fill(secret)
    out = b""
    while len(out) < size:
        digest = hashlib.sha256(diversifier + block).digest()
        for _ in range(iterations - 1):
            digest = hashlib.sha256(digest).digest()
        out += digest
        b = int.from_bytes((digest * (v // u + 1))[:v], "big")
        block = b"".join(
            ((int.from_bytes(block[i : i + v], "big") + b + 1) % (1 << (8 * v))).to_bytes(v, "big")
            for i in range(0, len(block), v)
        )
    return out[:size]
