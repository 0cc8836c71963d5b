"""Encoded input is checked the way the parser reads it (issue 9, findings 3 and 5).

PKCS#12 files in BER (indefinite lengths, constructed OCTET STRINGs, as older Java keytool and Windows
write them) get the same key-derivation cost and key-size pre-checks as DER ones, before any decryption;
what the pre-checks cannot read is refused as malformed. What only decryption shows (a key bag hidden in
an encrypted container) is bounded by the limits of the child process that opens every PKCS#12 file.
Certificates with odd encodings are refused cleanly. Each refusal has a positive twin that differs in one
thing.
"""

from __future__ import annotations

import base64
import json
import signal
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from keyprofiles import keymaterial, services
from keyprofiles.conf import keyprofiles_settings
from keyprofiles.keymaterial import (
    KeyMaterialError,
    ber,
    certificates_from_upload,
    keystore_material_from_upload,
    pkcs12_child,
)
from keyprofiles.models import Keystore
from portal.models import Organization
from portal.services import Actor
from tests import keyfixtures as fx
from tests.keyfixtures import der_of
from tests.keyprofiles.ber import (
    ODD_INPUT_WARNINGS,
    PASSWORD,
    ROUNDS,
    ber_pkcs12,
    der_pkcs12,
    hidden_key_bag_pkcs12,
    indefinite,
    split,
    tlv,
    tlvs,
)
from tests.keyprofiles.test_keymaterial import crafted_rsa_private_key_der

pytestmark = ODD_INPUT_WARNINGS
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FORTY_MILLION = 40_000_000


def key1() -> rsa.RSAPrivateKey:
    key = keymaterial.private_key_from_sealed_der(der_of(fx.KEY1_PEM))
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def cert1() -> x509.Certificate:
    return x509.load_pem_x509_certificate(fx.CERT1_PEM.encode())


def key1_pkcs12() -> bytes:
    return der_pkcs12(key1(), cert1())


def refusal(**inputs: bytes | None) -> KeyMaterialError:
    with pytest.raises(KeyMaterialError) as caught:
        keystore_material_from_upload(now=NOW, **inputs)
    return caught.value


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[pkcs12_child._ChildRun]:
    """Each run of a child process that opened a PKCS#12 file, letting each run. Nothing in a PKCS#12 file
    is decrypted outside such a child."""
    recorded: list[pkcs12_child._ChildRun] = []
    real = pkcs12_child._run_pkcs12_child

    def spy(request: bytes) -> pkcs12_child._ChildRun:
        run = real(request)
        recorded.append(run)
        return run

    monkeypatch.setattr(pkcs12_child, "_run_pkcs12_child", spy)
    return recorded


def statuses(runs: list[pkcs12_child._ChildRun]) -> list[int]:
    """The exit status of each PKCS#12 child process; negative: the signal that ended it."""
    return [run.returncode for run in runs]


# BER PKCS#12: the twins


def test_a_ber_pkcs12_with_usual_costs_and_a_2048_bit_key_is_accepted(runs: list[pkcs12_child._ChildRun]) -> None:
    encoded = ber_pkcs12(key1_pkcs12())
    assert encoded[:2] == b"\x30\x80"  # indefinite length, as the review's file had
    material = keystore_material_from_upload(pkcs12=encoded, password=PASSWORD, now=NOW)
    assert (material.key_type, material.key_size, material.certificate.subject) == ("RSA", 2048, "CN=test.example")
    assert material.private_key_der == der_of(fx.KEY1_PEM)
    assert statuses(runs) == [0]


def test_a_ber_pkcs12_with_usual_costs_is_stored(organization: Organization, actor: Actor) -> None:
    keystore = services.keystore_import(
        organization=organization,
        name="BER Keystore",
        pkcs12=ber_pkcs12(key1_pkcs12()),
        password=PASSWORD,
        actor=actor,
        now=NOW,
    )
    stored = Keystore.objects.get(pk=keystore.pk)
    assert (stored.name, stored.subject) == ("BER Keystore", "CN=test.example")


# BER PKCS#12: the refusals, before any decryption


@pytest.mark.parametrize(
    ("where", "what"),
    [
        ({"mac_rounds": FORTY_MILLION}, "MAC iterations"),
        ({"rounds_in": "key_bag", "rounds": FORTY_MILLION}, "key-derivation iterations"),
        ({"rounds_in": "container", "rounds": FORTY_MILLION}, "key-derivation iterations"),
    ],
    ids=["mac", "key-bag", "certificate-container"],
)
def test_a_ber_pkcs12_asking_for_40_million_iterations_is_refused_before_decryption(
    where: dict[str, object], what: str, runs: list[pkcs12_child._ChildRun]
) -> None:
    error = refusal(pkcs12=ber_pkcs12(key1_pkcs12(), **where), password=PASSWORD)  # type: ignore[arg-type]
    assert (error.code, error.field) == ("key_derivation_too_costly", "pkcs12")
    assert f"40,000,000 {what}" in str(error)
    assert statuses(runs) == []


def test_a_ber_pkcs12_with_a_1024_bit_key_is_refused(runs: list[pkcs12_child._ChildRun]) -> None:
    key = keymaterial.private_key_from_sealed_der(der_of(fx.RSA1024_KEY_PEM))
    certificate = x509.load_pem_x509_certificate(fx.RSA1024_CERT_PEM.encode())
    error = refusal(pkcs12=ber_pkcs12(der_pkcs12(key, certificate)), password=PASSWORD)
    assert (error.code, error.field) == ("rsa_key_too_small", "pkcs12")
    assert statuses(runs) == [0]


def test_a_ber_pkcs12_with_a_16384_bit_key_is_refused_before_the_consistency_check(
    runs: list[pkcs12_child._ChildRun],
) -> None:
    # Had the loader's consistency check run on this crafted key, its primality tests would have taken the
    # child to its CPU limit (it would have been killed, a negative status) instead of the size refusal.
    crafted = keymaterial.private_key_from_sealed_der(crafted_rsa_private_key_der(16384))
    error = refusal(pkcs12=ber_pkcs12(der_pkcs12(crafted, None)), password=PASSWORD)
    assert (error.code, error.field) == ("rsa_key_too_large", "pkcs12")
    assert "16384" in str(error)
    assert statuses(runs) == [0]


def test_a_ber_pkcs12_with_an_8192_bit_crafted_key_passes_the_size_check_and_reaches_the_loader(
    runs: list[pkcs12_child._ChildRun],
) -> None:
    # The twin of the test above: the same kind of crafted key at the largest accepted size goes on to the
    # loader, whose consistency check refuses it (its p and q are not primes).
    crafted = keymaterial.private_key_from_sealed_der(crafted_rsa_private_key_der(8192))
    error = refusal(pkcs12=ber_pkcs12(der_pkcs12(crafted, None)), password=PASSWORD)
    assert (error.code, error.field) == ("invalid_private_key", "pkcs12")
    assert statuses(runs) == [0]


def _deep(levels: int) -> bytes:
    return b"\x30\x80" * levels + b"\x05\x00" + b"\x00\x00" * levels


MALFORMED: dict[str, Callable[[bytes], bytes]] = {
    "no end-of-contents": lambda ber: ber[:-2],
    "multi-octet tag": lambda ber: ber[:-2] + b"\x1f\x81\x00\x00" + b"\x00\x00",
    "indefinite primitive": lambda ber: ber[:-2] + b"\x04\x80\x00\x00" + b"\x00\x00",
    "integer inside a constructed OCTET STRING": lambda ber: ber[:-2] + indefinite(0x24, b"\x02\x01\x01") + b"\x00\x00",
    "nested 40 deep": lambda ber: ber[:-2] + _deep(40) + b"\x00\x00",
    "20,001 elements": lambda ber: ber[:-2] + indefinite(0x30, b"\x05\x00" * 20_001) + b"\x00\x00",
    "stray end-of-contents": lambda ber: ber + b"\x00\x00",
    "length past the end": lambda ber: ber[:-2] + b"\x04\x84\x7f\xff\xff\xff" + b"\x00\x00",
}


@pytest.mark.parametrize("damage", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_pkcs12_the_pre_checks_cannot_read_is_refused_before_decryption(
    damage: Callable[[bytes], bytes], runs: list[pkcs12_child._ChildRun]
) -> None:
    # Each damaged file is the accepted BER file of the first test plus one damage; the twin is that test.
    error = refusal(pkcs12=damage(ber_pkcs12(key1_pkcs12())), password=PASSWORD)
    assert (error.code, error.field) == ("unknown_format", "pkcs12")
    assert statuses(runs) == []


@pytest.mark.parametrize(
    ("accepted", "refused", "reason"),
    [
        (_deep(ber._BER_MAX_DEPTH), _deep(ber._BER_MAX_DEPTH + 1), "nest"),
        (
            indefinite(0x30, b"\x05\x00" * (ber._BER_MAX_ELEMENTS - 1)),
            indefinite(0x30, b"\x05\x00" * ber._BER_MAX_ELEMENTS),
            "elements",
        ),
    ],
    ids=["depth", "elements"],
)
def test_the_reader_bounds_sit_exactly_at_their_limits(accepted: bytes, refused: bytes, reason: str) -> None:
    assert len(ber._BerReader().read(accepted)) == 1
    with pytest.raises(ber._Malformed, match=reason):
        ber._BerReader().read(refused)


def test_the_reader_joins_constructed_octet_strings_and_normalizes_to_der() -> None:
    der = der_of(fx.KEY1_ENCRYPTED_PEM)
    (element,) = ber._BerReader().read(_ber_of(der))
    assert element.der == der


def test_an_enveloped_data_container_is_refused_as_unsupported(runs: list[pkcs12_child._ChildRun]) -> None:
    enveloped = tlv(0x30, tlv(0x06, bytes.fromhex("2a864886f70d010703")) + tlv(0xA0, tlv(0x30, b"\x02\x01\x00")))
    version, auth_safe, mac_data = tlvs(tlvs(key1_pkcs12())[0][1])
    _oid, explicit = tlvs(auth_safe[1])
    ((_tag, authenticated_safe),) = tlvs(explicit[1])
    containers = tlvs(tlvs(authenticated_safe)[0][1])
    body = b"".join(tlv(*c) for c in containers) + enveloped
    safe = tlv(0x30, tlv(0x06, _oid[1]) + tlv(0xA0, tlv(0x04, tlv(0x30, body))))
    error = refusal(pkcs12=tlv(0x30, tlv(*version) + safe + tlv(*mac_data)), password=PASSWORD)
    assert (error.code, error.field) == ("unsupported_key_type", "pkcs12")
    assert statuses(runs) == []


def test_a_pkcs12_whose_key_no_password_opens_is_refused(runs: list[pkcs12_child._ChildRun]) -> None:
    error = refusal(pkcs12=ber_pkcs12(key1_pkcs12()), password=b"not the password")
    assert (error.code, error.field) == ("wrong_password", "password")
    assert statuses(runs) == [0]


# Key bags hidden in encrypted containers: only the child's limits bound what opening them costs


def test_a_key_bag_hidden_in_a_container_asking_for_40_million_iterations_is_refused_at_the_cpu_limit(
    runs: list[pkcs12_child._ChildRun],
) -> None:
    hidden = hidden_key_bag_pkcs12(key1_pkcs12(), hidden_rounds=FORTY_MILLION)
    # Nothing readable without the password shows the count, so the pre-checks pass the file to the child.
    assert max(count for _what, count, _limit in ber.pkcs12_outline(hidden).costs) == ROUNDS
    error = refusal(pkcs12=hidden, password=PASSWORD)
    assert (error.code, error.field) == ("key_derivation_too_costly", "pkcs12")
    assert "more than 2 s of processor time" in str(error)
    assert statuses(runs) == [-signal.SIGPROF]  # ended by its CPU-time budget, not by finishing


def test_the_same_layout_with_a_usual_hidden_key_bag_is_accepted(runs: list[pkcs12_child._ChildRun]) -> None:
    material = keystore_material_from_upload(
        pkcs12=hidden_key_bag_pkcs12(key1_pkcs12(), hidden_rounds=ROUNDS), password=PASSWORD, now=NOW
    )
    assert material.private_key_der == der_of(fx.KEY1_PEM)
    assert statuses(runs) == [0]


def test_a_pkcs12_with_a_costly_hidden_key_bag_is_not_stored(organization: Organization, actor: Actor) -> None:
    # The twin is test_a_ber_pkcs12_with_usual_costs_is_stored.
    with pytest.raises(KeyMaterialError) as refused:
        services.keystore_import(
            organization=organization,
            name="Hidden Keystore",
            pkcs12=hidden_key_bag_pkcs12(key1_pkcs12(), hidden_rounds=FORTY_MILLION),
            password=PASSWORD,
            actor=actor,
            now=NOW,
        )
    assert refused.value.code == "key_derivation_too_costly"
    assert not Keystore.objects.filter(name="Hidden Keystore").exists()


def test_a_key_over_4096_bits_gets_the_larger_cpu_budget_and_a_2048_bit_one_does_not(
    runs: list[pkcs12_child._ChildRun],
) -> None:
    # The loader's consistency check of a genuine 8192-bit key takes about 4 s: more than the usual budget.
    crafted = keymaterial.private_key_from_sealed_der(crafted_rsa_private_key_der(8192))
    refusal(pkcs12=ber_pkcs12(der_pkcs12(crafted, None)), password=PASSWORD)
    keystore_material_from_upload(pkcs12=ber_pkcs12(key1_pkcs12()), password=PASSWORD, now=NOW)
    larger = {"cpu_seconds": keyprofiles_settings.PKCS12_LARGE_KEY_CPU_SECONDS}
    assert [larger in pkcs12_child._child_messages(run.stdout) for run in runs] == [True, False]


# The child process: what it inherits, its limits, and how the ways it can end are answered

_PROBE = """
import json, os, resource, signal, sys
sys.path.insert(0, sys.argv[1])
from keyprofiles import keymaterial
from keyprofiles.keymaterial import keys, pkcs12_child

def probe(*args, **kwargs):
    facts = {
        "environment": sorted(os.environ),
        "descriptors": len(os.listdir("/proc/self/fd")),
        "core": resource.getrlimit(resource.RLIMIT_CORE),
        "cpu": resource.getrlimit(resource.RLIMIT_CPU),
        "memory": resource.getrlimit(resource.RLIMIT_AS),
        "timer": signal.getitimer(signal.ITIMER_PROF)[0] > 0,
    }
    raise keymaterial.KeyMaterialError(json.dumps(facts), code="probe")

keys._open_pkcs12 = probe
pkcs12_child._pkcs12_child()
"""


def test_the_child_inherits_no_secret_environment_and_no_connection_and_runs_under_its_limits(
    monkeypatch: pytest.MonkeyPatch, organization: Organization
) -> None:
    assert Organization.objects.filter(pk=organization.pk).exists()  # this process holds a database connection
    monkeypatch.setenv("PORTAL_MASTER_KEYS", "k1:c2VjcmV0")
    monkeypatch.setenv("DATABASE_URL", "postgres://portal:secret@db/portal")
    monkeypatch.setenv("CRYPTOGRAPHY_OPENSSL_NO_LEGACY", "")  # changes how the loader works: passed on
    monkeypatch.setattr(pkcs12_child, "_CHILD_BOOTSTRAP", _PROBE)
    facts = json.loads(str(refusal(pkcs12=key1_pkcs12(), password=PASSWORD)))
    # LC_CTYPE is the child's own: Python sets it when it starts in the C locale (PEP 538).
    assert set(facts["environment"]) - {"LC_CTYPE"} == {"CRYPTOGRAPHY_OPENSSL_NO_LEGACY"}
    assert facts["descriptors"] == 4  # standard input, output and error, and the one listing them
    memory = keyprofiles_settings.PKCS12_MEMORY_BYTES
    assert (facts["core"], facts["cpu"], facts["memory"]) == ([0, 0], [10, 10], [memory, memory])
    assert facts["timer"]


_ALLOCATING = """
import sys
sys.path.insert(0, sys.argv[1])
from keyprofiles import keymaterial
from keyprofiles.keymaterial import keys, pkcs12_child

opened_by_the_loader = keys._open_pkcs12

def allocating(*args, **kwargs):
    room = bytearray({size})
    return opened_by_the_loader(*args, **kwargs)

keys._open_pkcs12 = allocating
pkcs12_child._pkcs12_child()
"""


@pytest.mark.parametrize(("size", "refused"), [(2**40, True), (2**20, False)], ids=["1-tib", "1-mib"])
def test_a_child_needing_more_memory_than_its_limit_is_refused_and_one_needing_less_is_not(
    monkeypatch: pytest.MonkeyPatch, size: int, refused: bool
) -> None:
    monkeypatch.setattr(pkcs12_child, "_CHILD_BOOTSTRAP", _ALLOCATING.format(size=size))
    if refused:
        error = refusal(pkcs12=key1_pkcs12(), password=PASSWORD)
        assert (error.code, error.field) == ("key_derivation_too_costly", "pkcs12")
        assert "more than 256 MiB of memory" in str(error)
    else:
        assert keystore_material_from_upload(pkcs12=key1_pkcs12(), password=PASSWORD, now=NOW).key_size == 2048


# Each of these children ends another way than the real one does; the twin is any accepted upload above.
ENDINGS: dict[str, tuple[str, str, str]] = {
    "stalled": ("import time; time.sleep(60)", "key_derivation_too_costly", "did not open within 1 s"),
    "killed by a signal": ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", "unknown_format", "failed"),
    "not JSON": ("print('garbage')", "unknown_format", "failed"),
    "JSON of another shape": ("print('{\"key\": 5}')", "unknown_format", "failed"),
    "a key that does not load": (
        'print(\'{"key": "AAAA", "certificate": null, "additional": []}\')',
        "unknown_format",
        "failed",
    ),
}


@pytest.mark.parametrize(("bootstrap", "code", "words"), ENDINGS.values(), ids=ENDINGS.keys())
def test_a_child_that_ends_otherwise_is_a_clean_refusal(
    monkeypatch: pytest.MonkeyPatch, settings: Any, bootstrap: str, code: str, words: str
) -> None:
    settings.KEYPROFILES = {**settings.KEYPROFILES, "PKCS12_WALL_SECONDS": 1}
    monkeypatch.setattr(pkcs12_child, "_CHILD_BOOTSTRAP", bootstrap)
    error = refusal(pkcs12=key1_pkcs12(), password=PASSWORD)
    assert (error.code, error.field) == (code, "pkcs12")
    assert words in str(error)


def test_a_child_that_cannot_run_is_a_server_error_not_the_files_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pkcs12_child, "_CHILD_BOOTSTRAP", "import sys; sys.exit('no such module')")
    with pytest.raises(RuntimeError, match=r"could not run.*no such module"):
        keystore_material_from_upload(pkcs12=key1_pkcs12(), password=PASSWORD, now=NOW)


def test_the_loaders_warnings_in_the_child_are_given_again_here_and_only_those() -> None:
    with pytest.warns(UserWarning, match="PKCS#12 bundle could not be parsed as DER"):
        keystore_material_from_upload(pkcs12=ber_pkcs12(key1_pkcs12()), password=PASSWORD, now=NOW)
    with warnings.catch_warnings(record=True) as given:
        warnings.simplefilter("always")
        keystore_material_from_upload(pkcs12=key1_pkcs12(), password=PASSWORD, now=NOW)
    assert not [warning for warning in given if "PKCS#12" in str(warning.message)]


# Encrypted PKCS#8: the loader reads DER only, so the pre-check does too


def _ber_of(der: bytes) -> bytes:
    out = b""
    for tag, content in tlvs(der):
        if tag == 0x04:
            out += split(content)
        elif tag & 0x20:
            out += indefinite(tag, _ber_of(content))
        else:
            out += tlv(tag, content)
    return out


def _pem(label: str, der: bytes) -> bytes:
    return f"-----BEGIN {label}-----\n".encode() + base64.encodebytes(der) + f"-----END {label}-----\n".encode()


@pytest.mark.parametrize("form", ["pem", "der"])
def test_a_ber_encrypted_pkcs8_key_is_refused_as_malformed_and_its_der_twin_accepted(form: str) -> None:
    der = der_of(fx.KEY1_ENCRYPTED_PEM)
    encoded = _ber_of(der)
    assert encoded != der
    wrap = (lambda data: _pem("ENCRYPTED PRIVATE KEY", data)) if form == "pem" else (lambda data: data)
    error = refusal(certificate=fx.CERT1_PEM.encode(), private_key=wrap(encoded), password=fx.KEY1_PASSPHRASE)
    assert (error.code, error.field) == ("unknown_format", "private_key")
    material = keystore_material_from_upload(
        certificate=fx.CERT1_PEM.encode(), private_key=wrap(der), password=fx.KEY1_PASSPHRASE, now=NOW
    )
    assert material.key_size == 2048


# Certificates with odd encodings


def _certificate(
    *, subject: x509.Name | None = None, serial: int = 5, critical: x509.ExtensionType | None = None
) -> bytes:
    name = subject or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test.example")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key1().public_key())
        .serial_number(serial)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
    )
    if critical is not None:
        builder = builder.add_extension(critical, critical=True)
    return builder.sign(key1(), hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _with_tbs_field(der: bytes, index: int, element: bytes) -> bytes:
    """``der`` with field ``index`` of its TBSCertificate replaced by ``element`` (the signature no longer
    matches, which nothing on these paths checks for a self-signed leaf)."""
    ((_tag, body),) = tlvs(der)
    tbs, algorithm, signature = tlvs(body)
    fields = [tlv(*field) for field in tlvs(tbs[1])]
    fields[index] = element
    return tlv(0x30, tlv(0x30, b"".join(fields)) + tlv(*algorithm) + tlv(*signature))


def quoted_name(string_tag: int, value: bytes) -> bytes:
    attribute = tlv(0x30, tlv(0x06, bytes.fromhex("550403")) + tlv(string_tag, value))  # CN
    return tlv(0x30, tlv(0x31, attribute))


SUBJECT, ISSUER, SERIAL, VALIDITY = 5, 3, 1, 4
ODD_CERTIFICATES: dict[str, tuple[int, bytes]] = {
    "invalid UTF-8 in a UTF8String subject": (SUBJECT, quoted_name(0x0C, b"\xff\xfetest\xc3")),
    "invalid UTF-8 in a UTF8String issuer": (ISSUER, quoted_name(0x0C, b"test\xed\xa0\x80")),
    "IA5String with a non-ASCII byte": (SUBJECT, quoted_name(0x16, b"caf\xe9")),
    "BIT STRING as a Common Name": (SUBJECT, quoted_name(0x03, b"\x00\x01")),
    "negative serial": (SERIAL, tlv(0x02, b"\x80\x00\x01")),
    "zero serial": (SERIAL, tlv(0x02, b"\x00")),
    "21-octet serial": (SERIAL, tlv(0x02, b"\x01" + b"\x00" * 20)),
    "year 0000": (VALIDITY, tlv(0x30, tlv(0x18, b"00000101000000Z") + tlv(0x18, b"99991231235959Z"))),
    "a 600-character subject": (SUBJECT, quoted_name(0x0C, b"x" * 600)),
}


@pytest.mark.parametrize(("index", "element"), ODD_CERTIFICATES.values(), ids=ODD_CERTIFICATES.keys())
def test_a_certificate_with_an_odd_encoding_is_refused_cleanly(index: int, element: bytes) -> None:
    odd = _with_tbs_field(_certificate(), index, element)
    with pytest.raises(KeyMaterialError) as truststore:
        certificates_from_upload(odd, now=NOW)
    assert (truststore.value.code, truststore.value.field) == ("invalid_certificate", "certificate")
    keystore = refusal(certificate=odd, private_key=fx.KEY1_PEM.encode())
    assert (keystore.code, keystore.field) == ("invalid_certificate", "certificate")


def test_the_same_certificate_rebuilt_without_the_odd_field_is_accepted() -> None:
    # The twin of the test above: rebuilding a field with its own value changes nothing.
    certificate = _certificate()
    ((_tag, body),) = tlvs(certificate)
    subject = tlv(*tlvs(tlvs(body)[0][1])[SUBJECT])
    same = _with_tbs_field(certificate, SUBJECT, subject)
    assert same == certificate
    assert certificates_from_upload(same, now=NOW)[0].subject == "CN=test.example"
    assert keystore_material_from_upload(certificate=same, private_key=fx.KEY1_PEM.encode(), now=NOW).key_size == 2048


@pytest.mark.parametrize(
    ("subject", "serial", "shown_subject", "shown_serial"),
    [
        (quoted_name(0x0C, "prüfung ✓".encode()), 5, "CN=prüfung ✓", "5"),
        (quoted_name(0x1E, "test".encode("utf-16-be")), 5, "CN=test", "5"),  # BMPString
        (quoted_name(0x0C, b"x" * 64), (1 << 159) - 1, "CN=" + "x" * 64, "7" + "F" * 39),  # 20-octet serial
    ],
    ids=["utf8", "bmpstring", "largest-serial"],
)
def test_unusual_but_valid_encodings_are_accepted(
    subject: bytes, serial: int, shown_subject: str, shown_serial: str
) -> None:
    certificate = _with_tbs_field(_certificate(serial=serial), SUBJECT, subject)
    info = certificates_from_upload(certificate, now=NOW)[0]
    assert (info.subject, info.serial_number) == (shown_subject, shown_serial)


def test_an_unknown_critical_extension_is_accepted() -> None:
    # The portal pins the key and never validates a path by extension semantics, so an extension it does
    # not know changes nothing it relies on (decision recorded in the report for docs/security.md).
    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")
    certificate = _certificate(critical=unknown)
    assert keystore_material_from_upload(
        certificate=certificate, private_key=fx.KEY1_PEM.encode(), now=NOW
    ).certificate.subject == ("CN=test.example")


def test_a_pkcs12_holding_a_certificate_with_invalid_utf8_is_refused_and_its_twin_accepted() -> None:
    odd = x509.load_der_x509_certificate(_with_tbs_field(_certificate(), SUBJECT, quoted_name(0x0C, b"\xff")))
    # The loader itself refuses the certificate, after the key was opened and checked.
    error = refusal(pkcs12=ber_pkcs12(der_pkcs12(key1(), odd)), password=PASSWORD)
    assert (error.code, error.field) == ("invalid_private_key", "pkcs12")
    assert "certificate" in str(error)
    fine = x509.load_der_x509_certificate(_certificate())
    assert keystore_material_from_upload(pkcs12=ber_pkcs12(der_pkcs12(key1(), fine)), password=PASSWORD, now=NOW)
