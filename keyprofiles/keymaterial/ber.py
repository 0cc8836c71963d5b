"""BER and DER (ITU-T X.690) read the way the loaders read them, the key-derivation costs an encrypted
upload asks for, and the outline of a PKCS#12 file, all read before anything is decrypted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from keyprofiles.keymaterial.errors import (
    KeyMaterialError,
    field_noun,
    unsupported_key_algorithm,
    unsupported_pkcs12_algorithm,
)
from keyprofiles.keymaterial.limits import (
    MAX_KDF_ITERATIONS,
    MAX_KDF_ITERATIONS_PER_FILE,
    MAX_SCRYPT_BLOCKS,
    MAX_SCRYPT_COST,
)

# cryptography's PKCS#12 loader reads BER (it falls back from DER to OpenSSL's BER parser), and real files
# need it: older Java keytool, Windows and some OpenSSL options write indefinite lengths and constructed
# OCTET STRINGs. Its PKCS#8 loader reads DER only. The pre-checks read the same encodings, so they see the
# values the loaders will use; what they cannot read is refused before any decryption, never skipped.

_BER_MAX_DEPTH = 32
_BER_MAX_ELEMENTS = 20_000  # a PKCS#12 file has a few hundred; bounds the work a crafted 1 MiB upload causes
_TAG_INTEGER, _TAG_OCTET_STRING, _TAG_OID, _TAG_SEQUENCE = 0x02, 0x04, 0x06, 0x30
_TAG_CONSTRUCTED_OCTET_STRING, _TAG_EXPLICIT_0 = 0x24, 0xA0


class _Malformed(Exception):
    """The bytes are not an encoding the pre-checks can read; ``str(e)`` says why, for the user."""


class _Unsupported(Exception):
    """The file names an encryption or key derivation whose cost the pre-checks cannot read."""


@dataclass(frozen=True)
class _Ber:
    """One BER element: its identifier octet; its content octets (a constructed OCTET STRING's segments
    joined, X.690 section 8.7.3, and then tagged as a primitive one); a constructed element's children."""

    tag: int
    content: bytes = field(repr=False)
    children: tuple[_Ber, ...] = ()

    @property
    def der(self) -> bytes:
        """The element in DER's length form: definite minimal lengths, OCTET STRINGs primitive."""
        body = b"".join(child.der for child in self.children) if self.tag & 0x20 else self.content
        return _der_header(self.tag, len(body)) + body


def _der_header(tag: int, length: int) -> bytes:
    if length < 0x80:
        return bytes([tag, length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets


class _BerReader:
    """Reads BER (X.690 section 8) into ``_Ber`` trees: definite and indefinite lengths, constructed OCTET
    STRINGs. Refuses (``_Malformed``) multi-octet tags (nothing in PKCS#8 or PKCS#12 uses one), nesting
    deeper than ``_BER_MAX_DEPTH`` and, over all reads of one reader, more than ``_BER_MAX_ELEMENTS``
    elements."""

    def __init__(self) -> None:
        self._elements = 0

    def read(self, data: bytes) -> tuple[_Ber, ...]:
        """The elements that ``data`` holds, which they must fill exactly."""
        return tuple(self._read_elements(data, 0, len(data), 0, until_end_of_contents=False)[0])

    def read_one(self, data: bytes, tag: int, what: str) -> _Ber:
        """The one element that ``data`` holds, with identifier ``tag``."""
        return _only(self.read(data), tag, what)

    def _read_elements(
        self, data: bytes, offset: int, limit: int, depth: int, *, until_end_of_contents: bool
    ) -> tuple[list[_Ber], int]:
        elements: list[_Ber] = []
        while True:
            if until_end_of_contents and data[offset : offset + 2] == b"\x00\x00" and offset + 2 <= limit:
                return elements, offset + 2
            if offset >= limit:
                if until_end_of_contents:
                    raise _Malformed("an indefinite length has no end-of-contents marker")
                return elements, offset
            element, offset = self._read_element(data, offset, limit, depth)
            elements.append(element)

    def _read_element(self, data: bytes, offset: int, limit: int, depth: int) -> tuple[_Ber, int]:
        self._elements += 1
        if self._elements > _BER_MAX_ELEMENTS:
            raise _Malformed(f"it has more than {_BER_MAX_ELEMENTS:,} ASN.1 elements")
        if depth > _BER_MAX_DEPTH:
            raise _Malformed(f"its ASN.1 elements nest more than {_BER_MAX_DEPTH} deep")
        if offset + 2 > limit:
            raise _Malformed("it is cut short")
        tag, first = data[offset], data[offset + 1]
        if tag == 0x00:
            raise _Malformed("it has an end-of-contents marker where none belongs")
        if tag & 0x1F == 0x1F:
            raise _Malformed("it uses a multi-octet ASN.1 tag")
        constructed = bool(tag & 0x20)
        start = offset + 2
        if first == 0x80:
            if not constructed:
                raise _Malformed("a primitive ASN.1 element has an indefinite length")
            children, end = self._read_elements(data, start, limit, depth + 1, until_end_of_contents=True)
            content_end = end - 2
        else:
            length = first
            if first > 0x80:
                count = first & 0x7F
                if count > 4 or start + count > limit:
                    raise _Malformed("a length is longer than the file")
                length, start = int.from_bytes(data[start : start + count], "big"), start + count
            end = content_end = start + length
            if end > limit:
                raise _Malformed("a length is longer than the file")
            children = (
                self._read_elements(data, start, end, depth + 1, until_end_of_contents=False)[0] if constructed else []
            )
        if not constructed:
            return _Ber(tag, data[start:end]), end
        if tag == _TAG_CONSTRUCTED_OCTET_STRING:
            if any(child.tag != _TAG_OCTET_STRING for child in children):
                raise _Malformed("a constructed OCTET STRING holds something other than OCTET STRING segments")
            return _Ber(_TAG_OCTET_STRING, b"".join(child.content for child in children)), end
        return _Ber(tag, data[start:content_end], tuple(children)), end


def _only(elements: Sequence[_Ber], tag: int, what: str) -> _Ber:
    if len(elements) != 1 or elements[0].tag != tag:
        raise _Malformed(f"{what} is not where it belongs")
    return elements[0]


def _fields(element: _Ber, what: str, minimum: int, maximum: int) -> tuple[_Ber, ...]:
    """The children of a SEQUENCE that must have ``minimum`` to ``maximum`` of them."""
    if element.tag != _TAG_SEQUENCE or not minimum <= len(element.children) <= maximum:
        raise _Malformed(f"{what} is not where it belongs")
    return element.children


def _integer(element: _Ber, what: str) -> int:
    if element.tag != _TAG_INTEGER or not element.content:
        raise _Malformed(f"{what} is not a number")
    return int.from_bytes(element.content, "big", signed=True)


def _oid(element: _Ber, what: str) -> bytes:
    if element.tag != _TAG_OID or not element.content:
        raise _Malformed(f"{what} is not an object identifier")
    return element.content


def _octets(element: _Ber, what: str) -> bytes:
    if element.tag != _TAG_OCTET_STRING:
        raise _Malformed(f"{what} is not an OCTET STRING")
    return element.content


def _explicit(element: _Ber, what: str) -> _Ber:
    if element.tag != _TAG_EXPLICIT_0 or len(element.children) != 1:
        raise _Malformed(f"{what} is not where it belongs")
    return element.children[0]


# Key-derivation costs (RFC 8018 PBES1, PBES2, PBKDF2 and PBMAC1; RFC 7914 scrypt; RFC 7292 appendix C)

_OID_DATA = bytes.fromhex("2a864886f70d010701")  # 1.2.840.113549.1.7.1, PKCS#7 data
_OID_ENCRYPTED_DATA = bytes.fromhex("2a864886f70d010706")  # 1.2.840.113549.1.7.6
_OID_KEY_BAG = bytes.fromhex("2a864886f70d010c0a0101")  # 1.2.840.113549.1.12.10.1.1
_OID_SHROUDED_KEY_BAG = bytes.fromhex("2a864886f70d010c0a0102")  # 1.2.840.113549.1.12.10.1.2
_OID_SAFE_CONTENTS_BAG = bytes.fromhex("2a864886f70d010c0a0106")  # 1.2.840.113549.1.12.10.1.6
_OID_PBES2 = bytes.fromhex("2a864886f70d01050d")  # 1.2.840.113549.1.5.13
_OID_PBMAC1 = bytes.fromhex("2a864886f70d01050e")  # 1.2.840.113549.1.5.14
_OID_PBKDF2 = bytes.fromhex("2a864886f70d01050c")  # 1.2.840.113549.1.5.12
_OID_SCRYPT = bytes.fromhex("2b06010401da47040b")  # 1.3.6.1.4.1.11591.4.11
# pbeWithSHAAnd128BitRC4 ... pbeWithSHAAnd40BitRC2-CBC: 1.2.840.113549.1.12.1.1 to .6
_OIDS_PKCS12_PBE = frozenset(bytes.fromhex("2a864886f70d010c01") + bytes([n]) for n in range(1, 7))
# PBES1: pbeWithMD2AndDES-CBC ... pbeWithSHA1AndRC2-CBC, 1.2.840.113549.1.5.1, 3, 4, 6, 10, 11
_OIDS_PBES1 = frozenset(bytes.fromhex("2a864886f70d0105") + bytes([n]) for n in (1, 3, 4, 6, 10, 11))

_Cost: TypeAlias = tuple[str, int, int]  # what, how many, the most accepted


def _algorithm(element: _Ber, what: str) -> tuple[bytes, _Ber | None]:
    """An AlgorithmIdentifier's OID and parameters (RFC 5280 section 4.1.1.2)."""
    algorithm, *parameters = _fields(element, what, 1, 2)
    return _oid(algorithm, what), parameters[0] if parameters else None


def _encryption_costs(element: _Ber, what: str) -> list[_Cost]:
    """The key-derivation costs of a password-based encryption's AlgorithmIdentifier. Raises _Unsupported
    for any other encryption: the loaders may know schemes whose cost is not read here."""
    oid, parameters = _algorithm(element, what)
    if parameters is None:
        raise _Malformed(f"{what} has no parameters")
    if oid == _OID_PBES2:
        key_derivation, _scheme = _fields(parameters, what, 2, 2)
        return _key_derivation_costs(key_derivation, what)
    if oid in _OIDS_PKCS12_PBE or oid in _OIDS_PBES1:
        _salt, iterations = _fields(parameters, what, 2, 2)
        return [("key-derivation iterations", _integer(iterations, what), MAX_KDF_ITERATIONS)]
    raise _Unsupported


def _key_derivation_costs(element: _Ber, what: str) -> list[_Cost]:
    oid, parameters = _algorithm(element, what)
    if parameters is None:
        raise _Malformed(f"{what} has no parameters")
    if oid == _OID_PBKDF2:
        # PBKDF2-params: salt, iterationCount, keyLength OPTIONAL, prf DEFAULT hmacWithSHA1
        _salt, iterations, *_ = _fields(parameters, what, 2, 4)
        return [("key-derivation iterations", _integer(iterations, what), MAX_KDF_ITERATIONS)]
    if oid == _OID_SCRYPT:
        # scrypt-params: salt, costParameter, blockSize, parallelizationParameter, keyLength OPTIONAL
        _salt, cost, block_size, parallelization, *_ = _fields(parameters, what, 4, 5)
        return [
            ("as scrypt cost", _integer(cost, what), MAX_SCRYPT_COST),
            (
                "as scrypt block size times parallelization",
                _integer(block_size, what) * _integer(parallelization, what),
                MAX_SCRYPT_BLOCKS,
            ),
        ]
    raise _Unsupported


def refuse_costly(costs: Sequence[_Cost], field: str) -> None:
    """Refuse key derivation that would take unreasonably long, or that names a count below one."""
    for what, value, limit in costs:
        if value < 1:
            raise KeyMaterialError(
                f"The {field_noun(field)} names {what} below one; the file is damaged.",
                code="unknown_format",
                field=field,
            )
        if value > limit:
            shown = f"{value:,}" if value.bit_length() <= 64 else "an absurd number of"
            raise KeyMaterialError(
                f"The {field_noun(field)} asks for {shown} {what}; at most {limit:,} are accepted (a deliberate "
                "slowdown that large would tie up the server). Re-export it with a usual setting.",
                code="key_derivation_too_costly",
                field=field,
            )
    total = sum(value for _, value, limit in costs if limit == MAX_KDF_ITERATIONS)
    if total > MAX_KDF_ITERATIONS_PER_FILE:
        raise KeyMaterialError(
            f"The {field_noun(field)} asks for {total:,} key-derivation iterations in all (each of its "
            f"{len(costs)} encryptions within the limit); at most {MAX_KDF_ITERATIONS_PER_FILE:,} are accepted per "
            "file. Re-export it with one key and usual settings.",
            code="key_derivation_too_costly",
            field=field,
        )


def check_encrypted_pkcs8(der: bytes, field: str) -> None:
    """Before decrypting a PKCS#8 EncryptedPrivateKeyInfo (RFC 5958 section 3): it must be DER, which is
    all the loader reads, and its key derivation must be affordable.

    Raises KeyMaterialError ``unknown_format``, ``unsupported_key_type`` or ``key_derivation_too_costly``.
    """
    what = "its encryption algorithm"
    try:
        info = _BerReader().read_one(der, _TAG_SEQUENCE, "the encrypted key")
        algorithm, _encrypted = _fields(info, "the encrypted key", 2, 2)
        costs = _encryption_costs(algorithm, what)
        if info.der != der:
            raise _Malformed("it is BER, not DER")
    except _Malformed as e:
        raise KeyMaterialError(
            f"The {field_noun(field)} holds an encrypted key that cannot be read ({e}); export it again.",
            code="unknown_format",
            field=field,
        ) from e
    except _Unsupported as e:
        raise unsupported_key_algorithm() from e
    refuse_costly(costs, field)


# PKCS#12 (RFC 7292), outlined before anything is decrypted


@dataclass(frozen=True)
class KeyBag:
    node: _Ber
    encrypted: bool  # pkcs8ShroudedKeyBag (EncryptedPrivateKeyInfo), else keyBag (PrivateKeyInfo)


@dataclass
class _Pkcs12Outline:
    """What a PKCS#12 file shows without its password: every key-derivation cost, and the key bags outside
    encrypted containers."""

    costs: list[_Cost] = field(default_factory=list)
    key_bags: list[KeyBag] = field(default_factory=list)


def pkcs12_outline(data: bytes) -> _Pkcs12Outline:
    """Read a PFX (RFC 7292 section 4) in BER, the way the loader reads it. Raises KeyMaterialError
    ``unknown_format`` for what cannot be read and ``unsupported_key_type`` for an encryption whose cost
    cannot be read (PKCS#7 enveloped data, public-key integrity mode, unknown schemes)."""
    reader = _BerReader()
    outline = _Pkcs12Outline()
    try:
        pfx = reader.read_one(data, _TAG_SEQUENCE, "the PFX")
        version, auth_safe, *mac_data = _fields(pfx, "the PFX", 2, 3)
        if _integer(version, "its version") != 3:
            raise _Malformed("its version is not 3")
        if mac_data:
            outline.costs.extend(_mac_costs(mac_data[0]))
        auth_safe_type, auth_safe_content = _fields(auth_safe, "its authSafe", 2, 2)
        if _oid(auth_safe_type, "its authSafe type") != _OID_DATA:
            raise _Unsupported  # signedData: public-key integrity mode
        authenticated_safe = reader.read_one(
            _octets(_explicit(auth_safe_content, "its authSafe"), "its authSafe"),
            _TAG_SEQUENCE,
            "its authenticated safe",
        )
        for content_info in authenticated_safe.children:
            content_type, *content = _fields(content_info, "a container", 1, 2)
            kind = _oid(content_type, "a container's type")
            if kind == _OID_DATA and content:
                safe_contents = _octets(_explicit(content[0], "a container"), "a container")
                _outline_safe_bags(reader.read_one(safe_contents, _TAG_SEQUENCE, "a safe"), outline)
            elif kind == _OID_ENCRYPTED_DATA and content:
                # EncryptedData: version, EncryptedContentInfo (type, algorithm, [0] ciphertext), [1] attributes
                _version, encrypted_content_info, *_ = _fields(
                    _explicit(content[0], "a container"), "a container", 2, 3
                )
                _type, algorithm, *_ = _fields(encrypted_content_info, "an encrypted container", 2, 3)
                outline.costs.extend(_encryption_costs(algorithm, "an encrypted container's algorithm"))
            else:
                raise _Unsupported  # envelopedData (public-key privacy mode) or an unknown container
    except _Malformed as e:
        raise KeyMaterialError(
            f"The PKCS#12 file cannot be read ({e}); the file is damaged. Export it again.",
            code="unknown_format",
            field="pkcs12",
        ) from e
    except _Unsupported as e:
        raise unsupported_pkcs12_algorithm() from e
    return outline


def _mac_costs(mac_data: _Ber) -> list[_Cost]:
    """MacData: DigestInfo (algorithm, digest), macSalt, iterations DEFAULT 1 (RFC 7292 section 4); with
    PBMAC1 (RFC 9579) the key derivation sits in the algorithm's parameters instead."""
    digest_info, _salt, *iterations = _fields(mac_data, "its MAC", 2, 3)
    algorithm, _digest = _fields(digest_info, "its MAC", 2, 2)
    oid, parameters = _algorithm(algorithm, "its MAC algorithm")
    if oid == _OID_PBMAC1:
        if parameters is None:
            raise _Malformed("its MAC algorithm has no parameters")
        key_derivation, _scheme = _fields(parameters, "its MAC algorithm", 2, 2)
        return _key_derivation_costs(key_derivation, "its MAC algorithm")
    count = _integer(iterations[0], "its MAC iterations") if iterations else 1
    return [("MAC iterations", count, MAX_KDF_ITERATIONS)]


def _outline_safe_bags(safe_contents: _Ber, outline: _Pkcs12Outline) -> None:
    """SafeContents: SEQUENCE OF SafeBag (bagId, [0] bagValue, bagAttributes OPTIONAL), RFC 7292 section 4.2."""
    if safe_contents.tag != _TAG_SEQUENCE:
        raise _Malformed("a safe is not where it belongs")
    for safe_bag in safe_contents.children:
        bag_id, bag_value, *_attributes = _fields(safe_bag, "a bag", 2, 3)
        kind, value = _oid(bag_id, "a bag's type"), _explicit(bag_value, "a bag")
        if kind == _OID_KEY_BAG:
            outline.key_bags.append(KeyBag(value, encrypted=False))
        elif kind == _OID_SHROUDED_KEY_BAG:
            algorithm, _encrypted = _fields(value, "an encrypted key", 2, 2)
            outline.costs.extend(_encryption_costs(algorithm, "an encrypted key's algorithm"))
            outline.key_bags.append(KeyBag(value, encrypted=True))
        elif kind == _OID_SAFE_CONTENTS_BAG:
            _outline_safe_bags(value, outline)
        # certificate, CRL and secret bags hold nothing decrypted or derived
