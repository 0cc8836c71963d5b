"""PKCS#12 files are opened in a short-lived child process with a CPU-time and a memory limit.

RFC 7292 lets a PKCS#12 file put key bags inside an encrypted container; their key-derivation parameters
show only once the container is decrypted, and cryptography's loader decrypts them all (a hidden bag
asking for 40 million PBKDF2 iterations cost 5 s of CPU). So the parent process reads only what it can
read without a password (the outline, ``ber``) and everything that decrypts runs in a child with limits.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning

from keyprofiles.keymaterial import keys
from keyprofiles.keymaterial.errors import KeyMaterialError
from keyprofiles.keymaterial.keys import Pkcs12Contents, pkcs8_der
from keyprofiles.keymaterial.limits import (
    MAX_UPLOAD_BYTES,
)

if TYPE_CHECKING:
    from portal.conf import AppSettings

logger = logging.getLogger(__name__)


# RFC 7292 lets a PKCS#12 file put key bags inside an encrypted container; their key-derivation parameters
# show only once the container is decrypted, and cryptography's loader decrypts them all (a hidden bag
# asking for 40 million PBKDF2 iterations cost 5 s of CPU). So the parent process reads only what it can
# read without a password (the outline) and everything that decrypts runs in a child with limits.

# The child is started by fork and immediate exec of this interpreter, in isolated mode (-I: no user site,
# no PYTHON* variables); it imports this module and calls _pkcs12_child.
_CHILD_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from keyprofiles.keymaterial.pkcs12_child import _pkcs12_child; _pkcs12_child()"
)
# The only environment the child gets: what changes how cryptography and OpenSSL load (the legacy provider
# for RC2, an OpenSSL configuration) and what the dynamic loader may need. Never DATABASE_URL, master keys...
_CHILD_ENVIRONMENT_PREFIXES = ("CRYPTOGRAPHY_", "OPENSSL_")
_CHILD_ENVIRONMENT_NAMES = frozenset({"LD_LIBRARY_PATH"})
_CHILD_OUTPUT_LIMIT = 4 * MAX_UPLOAD_BYTES  # base64 of at most a 1 MiB file's certificates and key
_CHILD_WARNING_CATEGORIES: dict[str, type[Warning]] = {
    category.__name__: category
    for category in (UserWarning, DeprecationWarning, CryptographyDeprecationWarning, RuntimeWarning)
}
# What ends a child that overran its CPU time: the budget's timer (SIGPROF) or the CPU-time limit (SIGKILL,
# also what the OOM killer sends).
_CPU_LIMIT_SIGNALS = frozenset({-signal.SIGPROF, -signal.SIGKILL})


@dataclass(frozen=True)
class _ChildRun:
    """How a PKCS#12 child process ended: its exit status (negative: the signal that ended it), what it
    wrote, and whether the parent killed it for overrunning ``PKCS12_WALL_SECONDS``."""

    returncode: int
    stdout: bytes = field(repr=False)
    stderr: bytes = field(repr=False)
    timed_out: bool = False


class _ChildProtocolError(Exception):
    """The child's output is not what ``_pkcs12_child`` writes."""


def open_pkcs12_in_child(data: bytes, password: bytes | None) -> Pkcs12Contents:
    """The private key, certificate and further certificates of a PKCS#12 file, opened by cryptography's
    loader in a child process that cannot cost more than its limits, whatever the file holds.

    Why a child process (option (a) of issue 9, finding 3) rather than decrypting the containers here to
    read the hidden bags' parameters first (option (b)): (b) would mean owning the RFC 7292 appendix B key
    derivation, PBES1 and PBES2, 3DES, RC2 and RC4, only to learn costs, and would still leave the loader's
    other costs (BER parsing, the RSA consistency check of a hidden key, whatever a future version adds)
    unbounded; a CPU-time limit bounds all of them, including what nobody thought of. Its price is a new
    interpreter per PKCS#12 upload, about 0.2 s of CPU (mostly importing cryptography), for an operator
    action that is rare.

    The child (``_pkcs12_child``) is a fork and immediate exec of this interpreter in isolated mode, so it
    inherits no memory (master keys, sessions), no open file or database connection (``close_fds``) and
    only the environment variables that change how the loader works. It opens the key bags first and checks
    their key sizes (``_precheck_pkcs12_keys``), then runs the loader, under these limits: core dumps off (a
    dump would hold the key); ``PKCS12_MEMORY_BYTES`` of address space; ``PKCS12_CPU_SECONDS`` of CPU for the
    work, raised to ``PKCS12_LARGE_KEY_CPU_SECONDS`` for the whole process once a key larger than
    ``PKCS12_LARGE_KEY_BITS`` passed the size check (the loader's consistency check of an 8192-bit key alone
    takes 4 s). Both end the child by signals that leave no core dump, even where core dumps go to a
    program that ignores RLIMIT_CORE: the larger is RLIMIT_CPU with equal soft and hard limits (SIGKILL), the
    smaller a CPU-time timer (ITIMER_PROF, whose SIGPROF ends the process). The file and password go in
    through a pipe; the key (PKCS#8 DER) and certificates (DER) come back through one, in memory only.
    The child's answer is treated as untrusted data: JSON, size-capped, then checked here like any upload.
    The warnings the loader gave in the child are given again here, as if it had run in this process.

    Raises KeyMaterialError for every refusal of the child (the codes of the in-process checks), and
    ``key_derivation_too_costly`` when the child hit a limit (the message names it) or
    ``unknown_format`` when it died otherwise; RuntimeError when the child could not run at all (a
    deployment problem, not the file's).
    """
    request = {"pkcs12": _b64(data), "password": None if password is None else _b64(password)}
    run = _run_pkcs12_child(json.dumps(request).encode("ascii"))
    try:
        messages = _child_messages(run.stdout)
    except _ChildProtocolError as e:
        messages = []
        if run.returncode == 0:
            logger.warning("The PKCS#12 child process wrote an unreadable answer: %s", e)
            raise _pkcs12_reader_failed() from e
    limits = _limits()
    cpu_seconds = limits.PKCS12_CPU_SECONDS
    for message in messages:
        if isinstance(message.get("cpu_seconds"), int | float):
            cpu_seconds = message["cpu_seconds"]
        for category, text in message.get("warnings", []):
            warnings.warn(str(text), _CHILD_WARNING_CATEGORIES.get(str(category), UserWarning), stacklevel=1)
    if run.timed_out:
        # Only a stalled child or a very busy server gets here: the CPU limits end a busy child sooner.
        raise KeyMaterialError(
            f"The PKCS#12 file did not open within {limits.PKCS12_WALL_SECONDS} s and was refused: the server is busy "
            "or the file asks for too much work. Try again later, or re-export it with usual settings.",
            code="key_derivation_too_costly",
            field="pkcs12",
        )
    if run.returncode in _CPU_LIMIT_SIGNALS:
        raise _pkcs12_too_costly(f"took more than {cpu_seconds:g} s of processor time to open")
    if run.returncode < 0:
        logger.warning("The PKCS#12 child process died of signal %d.", -run.returncode)
        raise _pkcs12_reader_failed()
    if run.returncode != 0 or not messages:
        raise RuntimeError(
            f"The PKCS#12 child process could not run (exit status {run.returncode}): "
            + run.stderr[-2000:].decode("utf-8", "replace")
        )
    try:
        return _contents_from_child(messages[-1])
    except _ChildProtocolError as e:
        logger.warning("The PKCS#12 child process wrote an unreadable answer: %s", e)
        raise _pkcs12_reader_failed() from e


def _limits() -> AppSettings:
    """The child's limits: the ``KEYPROFILES`` settings ``PKCS12_CPU_SECONDS``, ``PKCS12_LARGE_KEY_CPU_SECONDS``,
    ``PKCS12_MEMORY_BYTES`` and ``PKCS12_WALL_SECONDS``. Read by the parent only, and imported here rather than
    at the top: the child imports this module, and Django's settings machinery would add 0.1 s to its start."""
    from keyprofiles.conf import keyprofiles_settings

    return keyprofiles_settings


def _run_pkcs12_child(request: bytes) -> _ChildRun:
    """Start the child, give it ``request`` on its standard input and wait for it to end (at most
    ``PKCS12_WALL_SECONDS``, then kill it)."""
    root = Path(__file__).resolve().parents[2]  # holds the keyprofiles and portal packages
    settings = _limits()
    limits = (settings.PKCS12_CPU_SECONDS, settings.PKCS12_LARGE_KEY_CPU_SECONDS, settings.PKCS12_MEMORY_BYTES)
    environment = {
        name: value
        for name, value in os.environ.items()
        if name.startswith(_CHILD_ENVIRONMENT_PREFIXES) or name in _CHILD_ENVIRONMENT_NAMES
    }
    try:
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and code, no shell; the file goes by pipe
            [sys.executable, "-I", "-c", _CHILD_BOOTSTRAP, str(root), *map(str, limits)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
            cwd=root,
            close_fds=True,
        )
    except OSError as e:
        raise RuntimeError(f"The PKCS#12 child process could not be started with {sys.executable!r}: {e}") from e
    with child:
        try:
            stdout, stderr = child.communicate(request, timeout=settings.PKCS12_WALL_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            stdout, stderr = child.communicate()
            return _ChildRun(child.returncode, stdout, stderr, timed_out=True)
    return _ChildRun(child.returncode, stdout, stderr)


def _child_messages(stdout: bytes) -> list[dict[str, Any]]:
    """The JSON objects the child wrote, one a line."""
    if len(stdout) > _CHILD_OUTPUT_LIMIT:
        raise _ChildProtocolError(f"{len(stdout):,} bytes of output")
    try:
        messages = [json.loads(line) for line in stdout.splitlines()]
    except ValueError as e:
        raise _ChildProtocolError("output that is not JSON") from e
    if not all(isinstance(message, dict) for message in messages):
        raise _ChildProtocolError("output that is not JSON objects")
    for message in messages:
        shown = message.get("warnings", [])
        if not isinstance(shown, list) or not all(isinstance(item, list) and len(item) == 2 for item in shown):
            raise _ChildProtocolError("warnings of the wrong shape")
    return messages


def _contents_from_child(answer: dict[str, Any]) -> Pkcs12Contents:
    """The loader's result from the child's last message, or the refusal it reported, raised."""
    if "refusal" in answer:
        refusal = answer["refusal"]
        if not isinstance(refusal, dict) or not all(isinstance(refusal.get(name), str) for name in ("message", "code")):
            raise _ChildProtocolError("a refusal of the wrong shape")
        refused_field = refusal.get("field")
        raise KeyMaterialError(
            refusal["message"], code=refusal["code"], field=refused_field if isinstance(refused_field, str) else None
        )
    if answer.get("exceeded") == "memory":
        raise _pkcs12_too_costly(f"needed more than {_limits().PKCS12_MEMORY_BYTES // 2**20} MiB of memory to open")
    if "failed" in answer:
        logger.warning("The PKCS#12 child process failed with %s.", str(answer["failed"])[:100])
        raise _pkcs12_reader_failed()
    key_b64, certificate_b64, additional_b64 = answer.get("key"), answer.get("certificate"), answer.get("additional")
    if not isinstance(additional_b64, list):
        raise _ChildProtocolError("no list of further certificates")
    try:
        key = None if key_b64 is None else keys._private_key_from_child_der(_unb64(key_b64))
        certificate = None if certificate_b64 is None else x509.load_der_x509_certificate(_unb64(certificate_b64))
        additional = [x509.load_der_x509_certificate(_unb64(item)) for item in additional_b64]
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise _ChildProtocolError("a key or certificate that does not load") from e
    return key, certificate, additional


def _pkcs12_child() -> None:
    """The child process (``_CHILD_BOOTSTRAP``): set the limits, read one request from standard input, open
    the file, and write JSON lines to standard output: ``{"cpu_seconds": n}`` when the larger CPU budget
    applies, then the answer, one of ``{"key", "certificate", "additional"}`` (base64 DER or null),
    ``{"refusal": {"message", "code", "field"}}``, ``{"exceeded": "memory"}`` or ``{"failed": name}``, each
    with the ``warnings`` given while opening. Overrunning its CPU time ends it by SIGPROF or SIGKILL."""
    cpu_seconds, large_key_cpu_seconds, memory_bytes = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (large_key_cpu_seconds, large_key_cpu_seconds))
    signal.setitimer(signal.ITIMER_PROF, cpu_seconds)

    def write(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def allow_large_key() -> None:
        signal.setitimer(signal.ITIMER_PROF, 0)  # off: RLIMIT_CPU bounds what is left
        write({"cpu_seconds": large_key_cpu_seconds})

    answer: dict[str, Any]
    with warnings.catch_warnings(record=True) as given:
        warnings.simplefilter("always")
        try:
            request = json.loads(sys.stdin.buffer.read())
            password = None if request["password"] is None else _unb64(request["password"])
            key, certificate, additional = keys._open_pkcs12(
                _unb64(request["pkcs12"]), password, allow_large_key=allow_large_key
            )
            answer = {
                "key": None if key is None else _b64(pkcs8_der(key)),
                "certificate": None if certificate is None else _b64(_certificate_der_of(certificate)),
                "additional": [_b64(_certificate_der_of(cert)) for cert in additional],
            }
        except KeyMaterialError as e:
            answer = {"refusal": {"message": str(e), "code": e.code, "field": e.field}}
        except MemoryError:
            answer = {"exceeded": "memory"}
        except Exception as e:  # reported by name to the parent, which refuses the file
            answer = {"failed": type(e).__name__}
    answer["warnings"] = list(dict.fromkeys((w.category.__name__, str(w.message)) for w in given))
    write(answer)


def _pkcs12_too_costly(what_happened: str) -> KeyMaterialError:
    return KeyMaterialError(
        f"The PKCS#12 file {what_happened} and was refused: it asks for too much work, such as a key "
        "derivation with an absurd iteration count inside an encrypted part. Re-export it with usual settings.",
        code="key_derivation_too_costly",
        field="pkcs12",
    )


def _pkcs12_reader_failed() -> KeyMaterialError:
    return KeyMaterialError(
        "The PKCS#12 file could not be read: reading it failed unexpectedly, so it is damaged or unusual. "
        "Export it again.",
        code="unknown_format",
        field="pkcs12",
    )


def _certificate_der_of(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object) -> bytes:
    if not isinstance(text, str):
        raise _ChildProtocolError("a value that is not base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as e:
        raise _ChildProtocolError("a value that is not base64 text") from e
