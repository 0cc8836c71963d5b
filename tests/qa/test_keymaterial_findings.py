"""QA finding against the key-material checks (outside-in review after issue 9): each key-derivation cost of
a PKCS#12 file is capped at 5,000,000 iterations, but not their sum, and every key bag is decrypted before
anything else runs. A 1 MiB file of a few thousand copies of one key bag, each at the cap, asks for billions
of PBKDF2 iterations (measured on the running server: 8 bags took 4 s more CPU than 1; cost grows linearly).

The file is built cheaply: cryptography writes it at 65,536 iterations, and the count is rewritten in place to
5,000,000 (both are three-byte INTEGERs). Spies stand in for the decrypting loaders, so the test itself never
runs the key derivation; it counts how many decryptions the checks would run."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12  # noqa: TID251 - tests build their input

from keyprofiles.keymaterial import KeyMaterialError, ber, keys, keystore_material_from_upload
from tests import keyfixtures as fx
from tests.keyprofiles.test_keymaterial_encodings import NOW, key1

PASSWORD = b"qa-password"
CHEAP, AT_THE_CAP = b"\x02\x03\x01\x00\x00", b"\x02\x03\x4c\x4b\x40"  # INTEGER 65536, INTEGER 5000000
SHROUDED_KEY_BAG = bytes.fromhex("060b2a864886f70d010c0a0102")  # OID pkcs8ShroudedKeyBag


def _tlv(tag: int, value: bytes) -> bytes:
    size = len(value)
    if size < 128:
        return bytes([tag, size]) + value
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + value


def _read(data: bytes, at: int = 0) -> tuple[int, bytes, int]:
    tag, size, at = data[at], data[at + 1], at + 2
    if size & 0x80:
        count = size & 0x7F
        size, at = int.from_bytes(data[at : at + count], "big"), at + count
    return tag, data[at : at + size], at + size


def _children(data: bytes) -> list[tuple[int, bytes]]:
    found, at = [], 0
    while at < len(data):
        tag, value, at = _read(data, at)
        found.append((tag, value))
    return found


def pkcs12_with_key_bags(copies: int) -> bytes:
    """KEY1 and CERT1 as PKCS#12 (PBES2, AES-256), its shrouded key bag repeated ``copies`` times in the
    unencrypted safe, every key-derivation count of the bags and containers set to 5,000,000."""
    key = key1()
    certificate = x509.load_pem_x509_certificate(fx.CERT1_PEM.encode())
    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(65536)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(PASSWORD)
    )
    der = pkcs12.serialize_key_and_certificates(b"qa", key, certificate, None, encryption)
    version, auth_safe, mac = _children(_read(der)[1])
    data_oid, wrapped = _children(auth_safe[1])
    safes = []
    for tag, content_info in _children(_read(_children(wrapped[1])[0][1])[1]):
        oid, explicit = _children(content_info)
        if _tlv(*oid) != _tlv(*data_oid):  # the encrypted certificate container stays as it is
            safes.append(_tlv(tag, content_info))
            continue
        bags = [_tlv(t, v) for t, v in _children(_read(_children(explicit[1])[0][1])[1])]
        bags += [bag for bag in bags if SHROUDED_KEY_BAG in bag[:24]] * (copies - 1)
        safes.append(_tlv(tag, _tlv(*oid) + _tlv(0xA0, _tlv(0x04, _tlv(0x30, b"".join(bags))))))
    auth = _tlv(0x30, _tlv(*data_oid) + _tlv(0xA0, _tlv(0x04, _tlv(0x30, b"".join(safes)))))
    pfx = _tlv(0x30, _tlv(*version) + auth + _tlv(*mac))
    assert pfx.count(CHEAP) == copies + 1  # each key bag and the certificate container (the MAC: 2048)
    return pfx.replace(CHEAP, AT_THE_CAP)


@pytest.fixture
def decryptions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts decrypting loads: an encrypted key opened (answered with KEY1, without deriving anything) and the
    full PKCS#12 loader (refused as damaged, so it derives nothing either)."""
    calls: list[str] = []
    plain_key = key1()
    real_key_loader: Callable[..., object] = keys.load_der_private_key

    def key_loader(data: bytes, password: bytes | None, **options: object) -> object:
        if password is None:
            return real_key_loader(data, None, **options)
        calls.append("key bag")
        return plain_key

    def full_loader(data: bytes, password: bytes | None) -> object:
        calls.append("pkcs12")
        raise ValueError("the spy stands in for the full loader")

    monkeypatch.setattr(keys, "load_der_private_key", key_loader)
    monkeypatch.setattr(keys.pkcs12_format, "load_key_and_certificates", full_loader)
    return calls


def test_many_key_bags_at_the_cap_are_refused_before_any_decryption(decryptions: list[str]) -> None:
    with pytest.raises(KeyMaterialError) as caught:
        keystore_material_from_upload(pkcs12=pkcs12_with_key_bags(200), password=PASSWORD, now=NOW)

    assert (caught.value.code, decryptions) == ("key_derivation_too_costly", [])


def test_one_key_bag_at_the_cap_passes_the_cost_checks() -> None:
    """The twin: one key bag at the cap (with the MAC and the certificate container) is within the per-file budget,
    so the file goes on to be opened."""
    outline = ber.pkcs12_outline(pkcs12_with_key_bags(1))

    ber.refuse_costly(outline.costs, "pkcs12")  # no refusal
