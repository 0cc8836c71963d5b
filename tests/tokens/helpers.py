"""What the tokens tests share: byte-built tokens, the fixed test keys as cryptography objects and JWKs,
small API documents, and the demo called through the gateway across rotations of its key profile.

Tokens here are built straight from bytes with ``cryptography`` (never with ``tokens.jose``), so an attack
test exercises the code under test with exactly the bytes an attacker would send.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.test import Client
from time_machine import TimeMachineFixture

from keyprofiles import keymaterial
from portal.models import Catalog
from portal.services import Actor
from tests.keyfixtures import EC256_KEY_PEM, KEY1_PEM, KEY2_PEM, der_of
from tokens import services
from tokens.assembly import CompiledAssembly, assembly_compile
from tokens.context import Context
from tokens.demo import API_DOCUMENT
from tokens.documents import document_load
from tokens.editor import NewApi
from tokens.models import Publication
from tokens.policies.base import CryptoResolver
from tokens.rotation import KeySource, RotationPlan, keyprofile_rotate

# Every test that looks at exp, nbf or iat runs at this frozen instant.
INSTANT = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
NOW = int(INSTANT.timestamp())

# The names the demo document uses; the ``jwt_keyprofile`` fixture creates them from fixed key 1.
KEY_OBJECT = "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key"
CERT_OBJECT = "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-ca-0"
EC_KEY_OBJECT = "personal_sandbox_tlsp-ec-keyprofileV1.0.0-key"
EC_CERT_OBJECT = "personal_sandbox_tlsp-ec-keyprofileV1.0.0-ca-0"
SECRET_OBJECT = "personal_sandbox_tlsp-hmac-keyprofileV1.0.0-key"
HMAC_SECRET = bytes(range(100, 132))  # 32 bytes: the shared secret of the HMAC keystore
JWK_SECRET = bytes(range(1, 49))  # 48 bytes: the secret of the oct JWK

Signer = Callable[[bytes], bytes]


# -- base64url and compact tokens ---------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jbytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def compact(header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes, sign: Signer | None) -> str:
    """A compact JWS over the exact header and payload bytes; ``sign=None`` leaves the signature empty."""
    header_bytes = header if isinstance(header, bytes) else jbytes(header)
    payload_bytes = payload if isinstance(payload, bytes) else jbytes(payload)
    signing_input = f"{b64url(header_bytes)}.{b64url(payload_bytes)}"
    signature = b64url(sign(signing_input.encode("ascii"))) if sign is not None else ""
    return f"{signing_input}.{signature}"


def segment(token: str, index: int) -> dict[str, Any]:
    """The decoded JSON of a token's header (0) or payload (1)."""
    value: dict[str, Any] = json.loads(unb64url(token.split(".")[index]))
    return value


def flip(token: str, part: int) -> str:
    """The token with one base64url character in the middle of ``part`` replaced by another."""
    parts = token.split(".")
    text = parts[part]
    middle = len(text) // 2
    parts[part] = text[:middle] + ("B" if text[middle] != "B" else "C") + text[middle + 1 :]
    return ".".join(parts)


# -- fixed keys -------------------------------------------------------------------------------------------


def rsa_private(pem: str = KEY1_PEM) -> rsa.RSAPrivateKey:
    key = keymaterial.private_key_from_sealed_der(der_of(pem))
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def ec_private(pem: str = EC256_KEY_PEM) -> ec.EllipticCurvePrivateKey:
    key = keymaterial.private_key_from_sealed_der(der_of(pem))
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def attacker_key() -> rsa.RSAPrivateKey:
    return rsa_private(KEY2_PEM)


def rs256(key: rsa.RSAPrivateKey) -> Signer:
    return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def hs256(secret: bytes) -> Signer:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def es256(key: ec.EllipticCurvePrivateKey) -> Signer:
    def sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return sign


def _uint(value: int, length: int | None = None) -> str:
    return b64url(value.to_bytes(length or (value.bit_length() + 7) // 8, "big"))


def rsa_jwk(key: rsa.RSAPrivateKey, *, private: bool) -> dict[str, str]:
    public = key.public_key().public_numbers()
    jwk = {"kty": "RSA", "n": _uint(public.n), "e": _uint(public.e)}
    if private:
        numbers = key.private_numbers()
        jwk.update(
            d=_uint(numbers.d),
            p=_uint(numbers.p),
            q=_uint(numbers.q),
            dp=_uint(numbers.dmp1),
            dq=_uint(numbers.dmq1),
            qi=_uint(numbers.iqmp),
        )
    return jwk


def ec_jwk(key: ec.EllipticCurvePrivateKey, *, private: bool) -> dict[str, str]:
    public = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": _uint(public.x, 32), "y": _uint(public.y, 32)}
    if private:
        jwk["d"] = _uint(key.private_numbers().private_value, 32)
    return jwk


def oct_jwk(secret: bytes = JWK_SECRET) -> dict[str, str]:
    return {"kty": "oct", "k": b64url(secret)}


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 section 3: SHA-256 over the required members, sorted, without whitespace."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "oct": ("k", "kty")}[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in required}, sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


# -- contexts, assemblies and documents ---------------------------------------------------------------------


def make_context(headers: dict[str, str] | None = None, *, verb: str = "GET", path: str = "/") -> Context:
    return Context(verb=verb, path=path, headers=headers or {})


def compile_policies(
    policies: list[dict[str, Any]], resolver: CryptoResolver, catch: list[dict[str, Any]] | None = None
) -> CompiledAssembly:
    assembly: dict[str, Any] = {"execute": policies}
    if catch is not None:
        assembly["catch"] = catch
    return assembly_compile(assembly, resolver)


def new_api(**changes: Any) -> NewApi:
    fields: dict[str, Any] = {
        "title": "JWT Generation and Validation",
        "name": "jwt-generation-and-validation",
        "version": "1.0.0",
        "base_path": "/securetoken",
        "openapi_version": "2.0",
        "operations": (("get", "/generate"), ("get", "/validate")),
        "client_secret": False,
    }
    return NewApi(**{**fields, **changes})


def demo_document() -> dict[str, Any]:
    return document_load(API_DOCUMENT.read_bytes())


def api_document(
    *,
    name: str = "test-api",
    base_path: str = "/test",
    paths: tuple[str, ...] = ("/go",),
    execute: list[dict[str, Any]] | None = None,
    catch: list[dict[str, Any]] | None = None,
    client_secret: bool = False,
    version: str = "1.0.0",
) -> dict[str, Any]:
    """A small OpenAPI 2.0 API secured by client id (and secret): ``GET`` on each path runs ``execute``."""
    security: dict[str, Any] = {"clientID": []}
    schemes: dict[str, Any] = {"clientID": {"type": "apiKey", "in": "header", "name": "X-IBM-Client-Id"}}
    if client_secret:
        security["clientSecret"] = []
        schemes["clientSecret"] = {"type": "apiKey", "in": "header", "name": "X-IBM-Client-Secret"}
    assembly: dict[str, Any] = {"execute": execute or []}
    if catch is not None:
        assembly["catch"] = catch
    return {
        "swagger": "2.0",
        "info": {"title": name.replace("-", " ").title(), "x-ibm-name": name, "version": version},
        "basePath": base_path,
        "securityDefinitions": schemes,
        "security": [security],
        "paths": {path: {"get": {"responses": {"200": {"description": "ok"}}}} for path in paths},
        "x-ibm-configuration": {"assembly": assembly},
    }


def renamed_copy(document: dict[str, Any], *, name: str, base_path: str) -> dict[str, Any]:
    """A deep copy of an API document under another name (and title) and base path."""
    document = copy.deepcopy(document)
    document["info"]["x-ibm-name"] = name
    document["info"]["title"] = name
    document["basePath"] = base_path
    return document


def demo_variant(*, name: str, base_path: str, catch: bool = True) -> dict[str, Any]:
    """The demo document under another name and base path, optionally without its catch."""
    document = renamed_copy(demo_document(), name=name, base_path=base_path)
    if not catch:
        del document["x-ibm-configuration"]["assembly"]["catch"]
    return document


# -- the demo through the gateway, across rotations of its key profile -----------------------------------------

DEMO_PROFILE = "jwt-keyprofile"
# The crypto objects of the version one rotation of the demo profile makes (1.0.0 -> 1.0.1).
NEW_KEY_OBJECT = "personal_sandbox_tlsp-jwt-keyprofileV1.0.1-key"
NEW_CERT_OBJECT = "personal_sandbox_tlsp-jwt-keyprofileV1.0.1-ca-0"
DEMO_BASE = "/personal/sandbox/securetoken"


def clock_after(clock: TimeMachineFixture, **delta: float) -> datetime:
    """Move the frozen clock to INSTANT + ``timedelta(**delta)``, without ticking; returns that moment."""
    moment = INSTANT + timedelta(**delta)
    clock.move_to(moment, tick=False)
    return moment


def gateway_generate(client: Client, client_id: str, base: str = DEMO_BASE) -> str:
    """The token ``GET <base>/generate`` answers (the demo's API by default) in its ``Authorization: Bearer``
    header, for iss ``apic`` and aud ``id1``; fails the test unless the answer is 200 with that header."""
    response = client.get(
        f"{base}/generate", headers={"X-IBM-Client-Id": client_id, "iss-claim": "apic", "aud-claim": "id1"}
    )
    assert response.status_code == 200, response.content
    header = response["Authorization"]
    assert header.startswith("Bearer ")
    return str(header).removeprefix("Bearer ")


def gateway_validate(client: Client, client_id: str, token: str, base: str = DEMO_BASE) -> tuple[int, str]:
    """(status, body) of ``GET <base>/validate`` with ``token`` as the bearer token."""
    response = client.get(
        f"{base}/validate", headers={"X-IBM-Client-Id": client_id, "Authorization": f"Bearer {token}"}
    )
    return response.status_code, response.content.decode()


def token_kid(token: str) -> str:
    kid: str = segment(token, 0)["kid"]
    return kid


@functools.cache
def certificate_kid(certificate_pem: str) -> str:
    """The RFC 7638 thumbprint of a certificate's key: the kid the tokens it verifies and the JWKS carry."""
    return keymaterial.key_id(keymaterial.public_key_from_certificate_pem(certificate_pem))


def jwt_policies(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every (type, properties) of the document's jwt-generate and jwt-validate policies, in document order."""
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("jwt-generate", "jwt-validate") and isinstance(value, dict):
                    found.append((key, value))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document["x-ibm-configuration"]["assembly"])
    return found


def document_publish(document: dict[str, Any], catalog: Catalog, actor: Actor) -> Publication:
    """Save ``document`` as an API of the catalog's organization and publish it to the catalog."""
    api, _ = services.api_save(organization=catalog.organization, document=document, actor=actor)
    return services.api_publish(api=api, catalog=catalog, actor=actor)


def demo_profile_rotate(catalog: Catalog, actor: Actor, **options: Any) -> RotationPlan:
    """Rotate the demo profile (or ``name``) in ``catalog`` with a generated key unless ``source`` says
    otherwise; the other options are ``keyprofile_rotate``'s."""
    return keyprofile_rotate(
        catalog=catalog,
        name=options.pop("name", DEMO_PROFILE),
        source=options.pop("source", KeySource()),
        actor=actor,
        **options,
    )


class FakeMonotonic:
    """A monotonic clock for ``portal.invalidation`` only, so a test decides when a worker looks again."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


# -- APIs with properties (tests of API property values: services, REST, commands, the gateway) ------------------


def answer(text: str) -> dict[str, Any]:
    """A set-variable policy answering ``text`` (``$(...)`` read per call) as the body."""
    return {"set-variable": {"title": "answer", "actions": [{"set": "message.body", "value": text}]}}


def open_api(name: str, execute: list[dict[str, Any]], properties: dict[str, Any]) -> dict[str, Any]:
    """An API at /<name>/go that any caller may call, declaring ``properties`` (name to declaration)."""
    document = api_document(name=name, base_path=f"/{name}", execute=execute)
    document["x-ibm-configuration"]["properties"] = properties
    del document["security"], document["securityDefinitions"]
    return document


def sandbox_body(path: str) -> str:
    """What the gateway answers at ``path`` in personal/sandbox (a 200 expected)."""
    response = Client().get(f"/personal/sandbox{path}")
    assert response.status_code == 200, response.content
    return response.content.decode()
