"""PEM (RFC 7468) blocks and format detection of uploads."""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from dataclasses import dataclass, field

from keyprofiles.keymaterial.errors import KeyMaterialError, field_noun

CERTIFICATE_LABELS = frozenset({"CERTIFICATE", "X509 CERTIFICATE"})
PRIVATE_KEY_LABELS = frozenset(
    {"PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY"}
)
# `openssl ecparam -genkey` writes this block before the key; it carries nothing the key lacks.
IGNORED_KEY_FILE_LABELS = frozenset({"EC PARAMETERS"})
# Only the BEGIN and END lines are matched, then paired in order: a pattern spanning a whole block would
# rescan the rest of the file from every unmatched BEGIN, quadratic time on a crafted 1 MiB upload.
_PEM_MARKER = re.compile(rb"-----(?P<kind>BEGIN|END) (?P<label>[A-Z0-9 ]{1,40})-----")
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class _PemBlock:
    label: str
    encrypted: bool
    der: bytes = field(repr=False)
    text: bytes = field(repr=False)


def is_pem_text(data: bytes) -> bool:
    """Whether an upload starts as PEM text does (after a byte order mark and whitespace), to tell PEM from DER."""
    return data.lstrip(_UTF8_BOM + b" \t\r\n").startswith(b"-----")


def pem_blocks(data: bytes, field: str) -> list[_PemBlock] | None:
    """The PEM blocks of ``data``, or None when it is not PEM text (no BEGIN line).

    Refuses anything but whitespace before, between or after the blocks (``junk_around_pem``): such text
    is often a second, unnoticed secret or a sign the wrong file was chosen. A leading UTF-8 byte order
    mark, which some editors add invisibly, is tolerated.
    """
    if b"-----BEGIN" not in data:
        return None
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    noun = field_noun(field)
    markers = list(_PEM_MARKER.finditer(data))
    blocks: list[_PemBlock] = []
    position = 0
    for begin, end in itertools.zip_longest(markers[::2], markers[1::2]):
        _check_gap(
            data[position : begin.start()],
            noun,
            field,
            "before its first PEM block" if not blocks else "between its PEM blocks",
        )
        if begin["kind"] != b"BEGIN" or end is None or end["kind"] != b"END":
            raise _unterminated_pem(noun, field)
        label = begin["label"].decode("ascii")
        if end["label"] != begin["label"]:
            raise KeyMaterialError(
                f"The {noun} has a PEM block that begins as {label!r} but ends as "
                f"{end['label'].decode('ascii')!r}; the file is damaged.",
                code="unknown_format",
                field=field,
            )
        body = data[begin.end() : end.start()]
        blocks.append(_pem_block(label, body, data[begin.start() : end.end()], noun, field))
        position = end.end()
    _check_gap(data[position:], noun, field, "after its last PEM block" if blocks else "")
    return blocks


def _check_gap(gap: bytes, noun: str, field: str, where: str) -> None:
    if not gap.strip():
        return
    if b"-----BEGIN" in gap or b"-----END" in gap:
        raise _unterminated_pem(noun, field)
    raise KeyMaterialError(
        f"The {noun} has other text {where}; remove everything outside the -----BEGIN and -----END lines.",
        code="junk_around_pem",
        field=field,
    )


def _unterminated_pem(noun: str, field: str) -> KeyMaterialError:
    return KeyMaterialError(
        f"The {noun} has a -----BEGIN line without its matching -----END line (or the reverse); the file is cut "
        "short or damaged.",
        code="unknown_format",
        field=field,
    )


def _pem_block(label: str, body: bytes, text: bytes, noun: str, field: str) -> _PemBlock:
    lines = body.strip().splitlines()
    headers: dict[bytes, bytes] = {}
    # RFC 1421 headers (Proc-Type, DEK-Info) of traditional encrypted keys, then a blank line.
    while lines and b":" in lines[0]:
        name, _, value = lines.pop(0).partition(b":")
        headers[name.strip()] = value.strip()
    try:
        der = base64.b64decode(b"".join(line.strip() for line in lines), validate=True)
    except binascii.Error as e:
        raise KeyMaterialError(
            f"The {label} block of the {noun} is damaged: its base64 text is invalid.",
            code="unknown_format",
            field=field,
        ) from e
    if not der:
        raise KeyMaterialError(f"The {label} block of the {noun} is empty.", code="unknown_format", field=field)
    encrypted = label == "ENCRYPTED PRIVATE KEY" or b"ENCRYPTED" in headers.get(b"Proc-Type", b"")
    return _PemBlock(label=label, encrypted=encrypted, der=der, text=text)


def looks_like_pfx(data: bytes) -> bool:
    """Whether ``data`` starts as a PKCS#12 PFX, SEQUENCE { INTEGER 3, ...} (RFC 7292 section 4), in BER."""
    if len(data) < 5 or data[0] != 0x30:
        return False
    length_octets = data[1] - 0x80 if data[1] > 0x80 else 0  # 0x80 itself: BER indefinite length
    return data[2 + length_octets : 5 + length_octets] == b"\x02\x01\x03"


def unknown_format(data: bytes, field: str, expected: str) -> KeyMaterialError:
    hint = " It looks like a PKCS#12 file: upload it in the PKCS#12 field." if looks_like_pfx(data) else ""
    return KeyMaterialError(
        f"The {field_noun(field)} is neither a PEM nor a DER {expected}.{hint}", code="unknown_format", field=field
    )
