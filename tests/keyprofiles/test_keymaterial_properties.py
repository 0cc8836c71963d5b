"""Property tests (Hypothesis) of the key-material parser: whatever the upload, the answer is a result or a
KeyMaterialError, never another exception (issue 9, finding 5); and the PKCS#12 pre-checks read every BER
encoding of a file the way the loader does (finding 3).

Inputs are valid files with a few random edits (flipped, inserted, deleted or duplicated bytes, a cut),
random BER re-encodings, and random bytes. Example counts are bounded so each property takes seconds.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keyprofiles import keymaterial
from keyprofiles.keymaterial import (
    KeyMaterialError,
    KeystoreMaterial,
    ber,
    certificates_from_upload,
    keystore_material_from_upload,
    secret_from_upload,
)
from tests import keyfixtures as fx
from tests.keyfixtures import der_of, pkcs12_of
from tests.keyprofiles.ber import ODD_INPUT_WARNINGS, PASSWORD, ber_pkcs12, der_pkcs12

pytestmark = ODD_INPUT_WARNINGS
T = TypeVar("T")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# No example database: the suite leaves no .hypothesis directory behind; a failure prints its seed.
FEW = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
MANY = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _key1() -> rsa.RSAPrivateKey:
    key = keymaterial.private_key_from_sealed_der(der_of(fx.KEY1_PEM))
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


KEY1_PKCS12_DER = der_pkcs12(_key1(), x509.load_pem_x509_certificate(fx.CERT1_PEM.encode()))
KEY1_PKCS12_BER = ber_pkcs12(KEY1_PKCS12_DER)
PKCS12_SEEDS = [KEY1_PKCS12_DER, KEY1_PKCS12_BER, pkcs12_of(fx.KEY1_LEGACY_PKCS12_B64), pkcs12_of(fx.CHAIN_PKCS12_B64)]
CERTIFICATE_SEEDS = [
    fx.CERT1_PEM.encode(),
    der_of(fx.CERT1_PEM),
    fx.EC256_CERT_PEM.encode(),
    (fx.INTERMEDIATE_CERT_PEM + fx.CA_CERT_PEM).encode(),
]
KEY_SEEDS = [
    fx.KEY1_PEM.encode(),
    der_of(fx.KEY1_PEM),
    fx.KEY1_TRADITIONAL_PEM.encode(),
    fx.KEY1_ENCRYPTED_PEM.encode(),
    der_of(fx.KEY1_ENCRYPTED_PEM),
    fx.KEY1_ENCRYPTED_TRADITIONAL_PEM.encode(),
]


@st.composite
def edited(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """One of ``seeds`` with one to four random edits."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        edit = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "cut"]))
        if edit == "flip" and data:
            data[position] ^= draw(st.integers(1, 255))
        elif edit == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif edit == "delete":
            del data[position : position + draw(st.integers(1, 8))]
        elif edit == "duplicate":
            data[position:position] = data[position : position + draw(st.integers(1, 64))]
        else:
            del data[position:]
    return bytes(data)


def _outcome(call: Callable[[], T]) -> T | KeyMaterialError:
    """What ``call`` returns, or the KeyMaterialError it raises; any other exception fails the test."""
    try:
        return call()
    except KeyMaterialError as e:
        return e


def _result_or_refusal(**inputs: bytes | None) -> None:
    outcome = _outcome(lambda: keystore_material_from_upload(now=NOW, **inputs))
    if isinstance(outcome, KeyMaterialError):
        assert outcome.code
        assert str(outcome)
    else:
        assert isinstance(outcome, KeystoreMaterial)


@FEW
@given(pkcs12=st.one_of(edited(PKCS12_SEEDS), st.binary(max_size=512)), password=st.sampled_from([PASSWORD, None]))
def test_any_pkcs12_upload_is_a_result_or_a_refusal(pkcs12: bytes, password: bytes | None) -> None:
    _result_or_refusal(pkcs12=pkcs12, password=password)


@FEW
@given(
    certificate=st.one_of(edited(CERTIFICATE_SEEDS), st.sampled_from(CERTIFICATE_SEEDS)),
    private_key=st.one_of(edited(KEY_SEEDS), st.sampled_from(KEY_SEEDS)),
    chain=st.one_of(st.none(), edited(CERTIFICATE_SEEDS)),
)
def test_any_certificate_and_key_upload_is_a_result_or_a_refusal(
    certificate: bytes, private_key: bytes, chain: bytes | None
) -> None:
    _result_or_refusal(certificate=certificate, private_key=private_key, chain=chain, password=fx.KEY1_PASSPHRASE)


@MANY
@given(data=st.one_of(edited(CERTIFICATE_SEEDS), st.binary(max_size=512)))
def test_any_truststore_upload_is_a_result_or_a_refusal(data: bytes) -> None:
    outcome = _outcome(lambda: certificates_from_upload(data, now=NOW))
    if isinstance(outcome, KeyMaterialError):
        assert outcome.field == "certificate"
    else:
        assert all(info.pem.startswith("-----BEGIN CERTIFICATE-----") for info in outcome)


@MANY
@given(data=st.binary(max_size=256))
def test_any_secret_upload_is_a_secret_or_a_refusal(data: bytes) -> None:
    outcome = _outcome(lambda: secret_from_upload(data))
    if isinstance(outcome, KeyMaterialError):
        assert outcome.field == "secret"
    else:
        assert len(outcome) >= keymaterial.MIN_SECRET_BYTES


@st.composite
def ber_elements(draw: st.DrawFn, depth: int = 0) -> bytes:
    """Random BER: primitive elements, constructed ones with definite or indefinite lengths, constructed
    OCTET STRINGs, and now and then a damaged octet."""
    tag = draw(st.sampled_from([0x02, 0x04, 0x05, 0x06, 0x24, 0x30, 0x31, 0xA0, 0x80, 0x1F, 0x00]))
    if tag & 0x20 and depth < 6:
        body = b"".join(draw(st.lists(ber_elements(depth + 1), max_size=4)))
        if draw(st.booleans()):
            return bytes([tag, 0x80]) + body + b"\x00\x00"
    else:
        body = draw(st.binary(max_size=12))
    length = len(body)
    if length < 0x80:
        return bytes([tag, length]) + body
    return bytes([tag, 0x82]) + length.to_bytes(2, "big") + body


@MANY
@given(data=st.one_of(ber_elements(), edited([KEY1_PKCS12_BER])))
def test_the_ber_reader_reads_or_refuses_and_its_der_reads_back_the_same(data: bytes) -> None:
    try:
        elements = ber._BerReader().read(data)
    except ber._Malformed:
        return
    der = b"".join(element.der for element in elements)
    assert b"".join(element.der for element in ber._BerReader().read(der)) == der


@settings(max_examples=15, deadline=None, database=None)
@given(rng=st.randoms(use_true_random=False))
def test_every_ber_encoding_of_a_pkcs12_is_checked_as_its_der_and_accepted(rng: random.Random) -> None:
    encoded = ber_pkcs12(KEY1_PKCS12_DER, rng=rng)
    assert ber.pkcs12_outline(encoded).costs == ber.pkcs12_outline(KEY1_PKCS12_DER).costs
    material = keystore_material_from_upload(pkcs12=encoded, password=PASSWORD, now=NOW)
    assert material.private_key_der == der_of(fx.KEY1_PEM)


@FEW
@given(rng=st.randoms(use_true_random=False))
def test_every_ber_encoding_of_a_costly_pkcs12_is_refused(rng: random.Random) -> None:
    ber = ber_pkcs12(KEY1_PKCS12_DER, rounds_in="key_bag", rounds=40_000_000, rng=rng)
    with pytest.raises(KeyMaterialError) as refused:
        keystore_material_from_upload(pkcs12=ber, password=PASSWORD, now=NOW)
    assert refused.value.code == "key_derivation_too_costly"
