"""The interoperability suite's fixtures: one key per algorithm, the portal set up to sign and validate with
each (through the real gateway), its JWKS served over loopback HTTP, and the results table.

Every outcome a test records lands in the README's compatibility table (library x algorithm x direction):
the terminal summary prints it and writes it to ``test-artifacts/interop/compatibility.md``.
"""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.core.cache import cache
from django.test import Client

from keyprofiles.services import keyprofile_create, keystore_import, keystore_secret_create
from portal.models import Catalog, Organization
from portal.services import Actor
from tests.interop.libraries import ALGORITHMS, LIBRARY_NAMES, NodeJose, SigningKey, pkcs8
from tests.tokens.helpers import api_document
from tokens.runtime import gateway
from tokens.services import api_publish, api_save, sandbox_test_app

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "interop"
README = ROOT / "README.md"
PORTAL_SIGNS = "portal signs, library verifies"
LIBRARY_SIGNS = "library signs, portal verifies"
DIRECTIONS = (PORTAL_SIGNS, LIBRARY_SIGNS)
# The claims every library-signed token carries, and the patterns the portal's jwt-validate holds them to.
ISSUER, AUDIENCE = "interop-issuer", "interop-audience"
_CURVES: dict[str, ec.EllipticCurve] = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
_SECRET_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}

_results: dict[tuple[str, str, str], str] = {}
_notices: set[str] = set()


def in_ci() -> bool:
    """CI runs the whole suite: there a missing node or npm package is a failure, not a skip."""
    return bool(os.environ.get("CI"))


def record(library: str, alg: str, direction: str, outcome: str) -> None:
    """Note one cell of the compatibility table: ``yes``, or why not (``not implemented``)."""
    _results[library, alg, direction] = outcome


def compatibility_table() -> str:
    """The README table from the recorded results: one row per library and direction, one column per alg."""
    lines = [
        "| library | direction | " + " | ".join(ALGORITHMS) + " |",
        "|---|---|" + "---|" * len(ALGORITHMS),
    ]
    for library in LIBRARY_NAMES:
        for direction in DIRECTIONS:
            cells = [_results.get((library, alg, direction), "?") for alg in ALGORITHMS]
            symbols = ["✓" if cell == "yes" else ("n/i" if cell == "not implemented" else cell) for cell in cells]
            lines.append(f"| {library} | {direction} | " + " | ".join(symbols) + " |")
    return "\n".join(lines) + "\n"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for notice in sorted(_notices):
        terminalreporter.write_line(f"NOTICE: {notice}", yellow=True, bold=True)
    if not _results:
        return
    table = compatibility_table()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "compatibility.md").write_text(table)
    if "?" not in table and table not in README.read_text():
        terminalreporter.write_line("NOTICE: README's compatibility table differs from these results.", red=True)
    terminalreporter.write_sep("-", "JOSE compatibility (✓ works both ways checked; n/i: the library lacks it)")
    terminalreporter.write(table)


# -- keys --------------------------------------------------------------------------------------------------


def _self_signed(private_key: Any, common_name: str) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(private_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="session")
def signing_keys() -> dict[str, SigningKey]:
    """One key per algorithm (one key, one algorithm), made once per test session."""
    keys: dict[str, SigningKey] = {}
    for alg in ALGORITHMS:
        if alg.startswith("HS"):
            keys[alg] = SigningKey(alg=alg, secret=os.urandom(_SECRET_BYTES[alg]))
            continue
        private: Any
        if alg.startswith("ES"):
            private = ec.generate_private_key(_CURVES[alg])
        else:
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        keys[alg] = SigningKey(
            alg=alg, private_pem=pkcs8(private), certificate_pem=_self_signed(private, f"interop-{alg.lower()}")
        )
    return keys


# -- the JWKS over HTTP ------------------------------------------------------------------------------------


class JwksServer:
    """Serves the portal's JWKS bytes, as the portal answered them, at a loopback URL (the clients' JWKS
    fetchers need a URL; the test database lives in the test's own connection, so a served copy it is)."""

    def __init__(self) -> None:
        self.body = b'{"keys":[]}'
        self.content_type = "application/jwk-set+json"
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", owner.content_type)
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.close()


# -- the portal ------------------------------------------------------------------------------------------


def _key_object(alg: str, suffix: str) -> str:
    return f"personal_sandbox_tlsp-interop-{alg.lower()}V1.0.0-{suffix}"


def _interop_document() -> dict[str, Any]:
    """``GET /sign/<alg>`` signs with that algorithm's key; ``GET /verify/<alg>`` validates the bearer token
    with it and answers its claims, or 400 with the jwt-validate message."""
    paths = tuple(f"/{op}/{alg.lower()}" for alg in ALGORITHMS for op in ("sign", "verify"))
    cases: list[dict[str, Any]] = []
    for alg in ALGORITHMS:
        verify_object = _key_object(alg, "key" if alg.startswith("HS") else "ca-0")
        cases.append(
            {
                "operations": [{"verb": "get", "path": f"/sign/{alg.lower()}"}],
                "execute": [
                    {
                        "jwt-generate": {
                            "iss-claim": "request.headers.iss-claim",
                            "aud-claim": "request.headers.aud-claim",
                            "exp-claim": 300,
                            "jti-claim": True,
                            "jws-alg": alg,
                            "jws-crypto": _key_object(alg, "key"),
                        }
                    }
                ],
            }
        )
        cases.append(
            {
                "operations": [{"verb": "get", "path": f"/verify/{alg.lower()}"}],
                "execute": [
                    {"jwt-validate": {"iss-claim": ISSUER, "aud-claim": AUDIENCE, "jws-crypto": verify_object}},
                    {"set-variable": {"actions": [{"set": "message.body", "value": "$(decoded.claims)"}]}},
                ],
            }
        )
    document = api_document(name="interop", base_path="/interop", paths=paths)
    assembly = document["x-ibm-configuration"]["assembly"]
    assembly["execute"] = [{"operation-switch": {"case": cases}}]
    assembly["catch"] = [
        {
            "errors": ["RuntimeError"],
            "execute": [
                {
                    "set-variable": {
                        "actions": [
                            {"set": "message.status.code", "value": 400, "type": "number"},
                            {"set": "message.body", "value": "$(error.message)", "type": "string"},
                        ]
                    }
                }
            ],
        }
    ]
    return document


@dataclass
class Portal:
    client: Client
    client_id: str
    jwks: JwksServer

    def generate(self, alg: str) -> str:
        """A token the portal signs with ``alg`` (issuer and audience as the validating side expects)."""
        answer = self.client.get(
            f"/personal/sandbox/interop/sign/{alg.lower()}",
            headers={"X-IBM-Client-Id": self.client_id, "iss-claim": ISSUER, "aud-claim": AUDIENCE},
        )
        assert answer.status_code == 200, answer.content
        return str(answer["Authorization"].removeprefix("Bearer "))

    def validate(self, alg: str, token: str) -> tuple[int, Any]:
        """The gateway's answer to ``token`` on the path validating ``alg``: (status, claims or message)."""
        answer = self.client.get(
            f"/personal/sandbox/interop/verify/{alg.lower()}",
            headers={"X-IBM-Client-Id": self.client_id, "Authorization": f"Bearer {token}"},
        )
        return answer.status_code, answer.json() if answer.status_code == 200 else answer.content.decode()

    def publish_jwks(self) -> str:
        """Copy the portal's JWKS answer to the loopback server; returns its URL."""
        answer = self.client.get("/personal/sandbox/.well-known/jwks.json")
        assert answer.status_code == 200
        self.jwks.body = answer.content
        self.jwks.content_type = answer["Content-Type"]
        return self.jwks.url


@pytest.fixture
def portal(
    organization: Organization,
    sandbox: Catalog,
    actor: Actor,
    signing_keys: dict[str, SigningKey],
    jwks_server: JwksServer,
    client: Client,
) -> Iterator[Portal]:
    """The portal with a key profile per algorithm (its algorithm chosen at creation) and the interop API."""
    cache.clear()
    gateway.reset()
    for alg, key in signing_keys.items():
        if key.is_secret:
            keystore = keystore_secret_create(
                organization=organization, name=f"Interop {alg}", secret=key.secret.hex().encode(), actor=actor
            )
        else:
            keystore = keystore_import(
                organization=organization,
                name=f"Interop {alg}",
                certificate=key.certificate_pem,
                private_key=key.private_pem,
                actor=actor,
            )
        keyprofile_create(
            organization=organization,
            title=f"Interop {alg}",
            keystore=keystore,
            catalogs=[sandbox],
            algorithm=alg,
            actor=actor,
        )
    api, _ = api_save(organization=organization, document=_interop_document(), actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)
    app = sandbox_test_app(catalog=sandbox, actor=actor)
    yield Portal(client=client, client_id=app.client_id, jwks=jwks_server)
    gateway.reset()
    cache.clear()


@pytest.fixture
def node_jose() -> NodeJose:
    """node jose, or a skip with the reason outside CI (in CI, where .ci/run installs it, a failure)."""
    missing = NodeJose.missing()
    if missing is not None:
        if in_ci():
            pytest.fail(f"node jose is required in CI: {missing}")
        _notices.add(f"node jose interoperability not checked: {missing}")
        pytest.skip(f"node jose interoperability not checked: {missing}")
    return NodeJose()
