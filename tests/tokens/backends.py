"""Real loopback backends for invoke tests: HTTP and HTTPS servers in a thread, and a small PKI for them.

``Backend`` serves a handler function on 127.0.0.1 and records every request it gets; with ``tls`` it speaks
HTTPS with a certificate for ``localhost`` and ``127.0.0.1`` signed by ``TEST_PKI.ca``, and may require a
client certificate from the same authority (mutual TLS). ``RawBackend`` speaks raw bytes: it keeps each
request's head as received and answers exactly what a test gives it, as slowly as it says.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Issued:
    key_pem: str
    certificate_pem: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class TestPki:
    """A certificate authority, a server certificate for localhost, and a client certificate, made once."""

    def __init__(self) -> None:
        self._now = datetime.datetime.now(datetime.UTC)
        self._ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        builder = self._builder(_name("Invoke Test CA"), self._ca_key, _name("Invoke Test CA"))
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        self._ca_cert = builder.sign(self._ca_key, hashes.SHA256())
        self.ca_pem = self._ca_cert.public_bytes(serialization.Encoding.PEM).decode()

    def _builder(self, subject: x509.Name, key: rsa.RSAPrivateKey, issuer: x509.Name) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._now - datetime.timedelta(days=1))
            .not_valid_after(self._now + datetime.timedelta(days=30))
        )

    def _issue(self, common_name: str, usage: x509.ObjectIdentifier, names: list[x509.GeneralName]) -> Issued:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        builder = self._builder(_name(common_name), key, self._ca_cert.subject)
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        certificate = builder.sign(self._ca_key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return Issued(key_pem, certificate.public_bytes(serialization.Encoding.PEM).decode())

    @cached_property
    def server(self) -> Issued:
        return self._issue(
            "localhost",
            ExtendedKeyUsageOID.SERVER_AUTH,
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        )

    @cached_property
    def elsewhere(self) -> Issued:
        """A server certificate for another host name only."""
        return self._issue("other.test", ExtendedKeyUsageOID.SERVER_AUTH, [x509.DNSName("other.test")])

    @cached_property
    def client(self) -> Issued:
        return self._issue("invoke-client", ExtendedKeyUsageOID.CLIENT_AUTH, [])


TEST_PKI = TestPki()


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_certificate: dict[str, Any] | None


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


Handler = Callable[[Seen], Reply]


class Backend:
    """A loopback HTTP(S) server answering with ``handler``; use as a context manager."""

    def __init__(
        self,
        handler: Handler,
        *,
        tls: bool = False,
        require_client_certificate: bool = False,
        tmp: Path | None = None,
        certificate: Issued | None = None,
    ) -> None:
        self.handler = handler
        self.seen: list[Seen] = []
        backend = self

        class _RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
                seen = Seen(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, peer or None
                )
                backend.seen.append(seen)
                reply = backend.handler(seen)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if "content-length" not in {name.lower() for name in reply.headers}:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _RequestHandler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls:
            assert tmp is not None, "an HTTPS backend needs a directory for its key files"
            issued = certificate or TEST_PKI.server
            certificate_file, key_file = tmp / "server.pem", tmp / "server.key"
            certificate_file.write_text(issued.certificate_pem)
            key_file.write_text(issued.key_pem)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certificate_file, key_file)
            if require_client_certificate:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(cadata=TEST_PKI.ca_pem)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def __enter__(self) -> Backend:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def json_reply(body: bytes, status: int = 200) -> Handler:
    return lambda seen: Reply(status, {"Content-Type": "application/json"}, body)


class RawBackend:
    """A loopback server speaking raw bytes: it keeps each request's head as received (repeated headers show) and
    answers with ``reply`` (byte strings, or a function of the request's head that gives them), sent one after
    another ``pause`` seconds apart, then closes the connection."""

    def __init__(self, reply: list[bytes] | Callable[[bytes], list[bytes]], pause: float = 0.0) -> None:
        self.reply = reply
        self.pause = pause
        self.heads: list[bytes] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def raw_header_lines(self, index: int = 0) -> list[bytes]:
        """The header lines of request ``index`` as they came over the wire."""
        return [line for line in self.heads[index].split(b"\r\n")[1:] if line]

    def header_lines(self, name: str | None = None, index: int = 0) -> list[str]:
        """The header lines of request ``index`` (those of header ``name`` only, when given), as text."""
        lines = [line.decode("latin-1") for line in self.raw_header_lines(index)]
        return [line for line in lines if name is None or line.lower().startswith(f"{name.lower()}:")]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            head = b""
            while b"\r\n\r\n" not in head:
                data = connection.recv(65536)
                if not data:
                    return
                head += data
            self.heads.append(head.split(b"\r\n\r\n", 1)[0])
            for part in self.reply(head) if callable(self.reply) else self.reply:
                if self._stop.is_set():
                    return
                try:
                    connection.sendall(part)
                except OSError:  # the gateway gave up and closed its end
                    return
                if self.pause:
                    time.sleep(self.pause)

    def __enter__(self) -> RawBackend:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()
