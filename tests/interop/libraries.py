"""The JOSE libraries people use, each behind the same two calls: sign a token, and verify one the portal
signed (asymmetric algorithms from the portal's JWKS URL, HS* with the shared secret).

Each adapter uses the library the way its documentation shows, including its own JWKS client or key-set type
(PyJWT ``PyJWKClient``, jwcrypto ``JWKSet``, joserfc ``KeySet``, Authlib ``JsonWebKey.import_key_set``,
python-jose's JWK-set dict, node jose ``createRemoteJWKSet``), because matching a token to a key of a set
(by ``kid`` and ``alg``) is where interoperability broke.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import authlib.deprecate
import jose.jwt as python_jose_jwt
import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import ECKey as JoserfcECKey
from joserfc.jwk import KeySet as JoserfcKeySet
from joserfc.jwk import OctKey as JoserfcOctKey
from joserfc.jwk import RSAKey as JoserfcRSAKey
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jwt as jwcrypto_jwt

from tests.tokens.helpers import b64url

with warnings.catch_warnings():
    # Authlib points new code to joserfc (tested here too); its authlib.jose API is what existing code uses.
    # Its warning module turns the warning "always" on when imported, so the filter comes after that import.
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.jose import JsonWebKey as AuthlibJsonWebKey
    from authlib.jose import JsonWebToken as AuthlibJsonWebToken

NODE_DIR = Path(__file__).parent / "node"
ALGORITHMS = (
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
)  # fmt: skip


@dataclass(frozen=True)
class SigningKey:
    """One algorithm's key: a PEM private key (PKCS#8) and its certificate, or an HMAC secret."""

    alg: str
    private_pem: bytes = b""
    certificate_pem: bytes = b""
    secret: bytes = b""

    @property
    def is_secret(self) -> bool:
        return bool(self.secret)


@dataclass(frozen=True)
class Verification:
    """What a library needs to verify a portal token: the JWKS URL (and its text), or the shared secret."""

    token: str
    alg: str
    jwks_url: str
    secret: bytes


class Library:
    """A JOSE library: ``supports`` lists its algorithms; ``sign`` and ``verify`` raise on failure."""

    name = ""
    supports: frozenset[str] = frozenset(ALGORITHMS)

    def sign(self, key: SigningKey, claims: dict[str, Any], kid: str | None) -> str:
        raise NotImplementedError

    def verify(self, job: Verification) -> dict[str, Any]:
        raise NotImplementedError


def _headers(alg: str, kid: str | None) -> dict[str, str]:
    return {"alg": alg, "typ": "JWT", **({"kid": kid} if kid else {})}


def _jwks_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (a loopback URL the suite serves)
        return str(answer.read().decode())


class PyJwt(Library):
    name = "PyJWT"

    def sign(self, key: SigningKey, claims: dict[str, Any], kid: str | None) -> str:
        secret_or_pem = key.secret or key.private_pem
        return pyjwt.encode(claims, secret_or_pem, algorithm=key.alg, headers={"kid": kid} if kid else None)

    def verify(self, job: Verification) -> dict[str, Any]:
        if job.secret:
            return dict(pyjwt.decode(job.token, job.secret, algorithms=[job.alg], options={"verify_aud": False}))
        signing_key = pyjwt.PyJWKClient(job.jwks_url, cache_keys=False).get_signing_key_from_jwt(job.token)
        return dict(pyjwt.decode(job.token, signing_key, algorithms=[job.alg], options={"verify_aud": False}))


class JwCrypto(Library):
    name = "jwcrypto"

    def _key(self, key: SigningKey) -> jwcrypto_jwk.JWK:
        if key.secret:
            return jwcrypto_jwk.JWK(kty="oct", k=b64url(key.secret))
        return jwcrypto_jwk.JWK.from_pem(key.private_pem)

    def sign(self, key: SigningKey, claims: dict[str, Any], kid: str | None) -> str:
        token = jwcrypto_jwt.JWT(header=_headers(key.alg, kid), claims=claims)
        token.make_signed_token(self._key(key))
        return str(token.serialize())

    def verify(self, job: Verification) -> dict[str, Any]:
        if job.secret:
            keys: Any = jwcrypto_jwk.JWK(kty="oct", k=b64url(job.secret))
        else:
            keys = jwcrypto_jwk.JWKSet.from_json(_jwks_text(job.jwks_url))
        token = jwcrypto_jwt.JWT(jwt=job.token, key=keys, algs=[job.alg])
        return dict(json.loads(token.claims))


class Joserfc(Library):
    name = "joserfc"

    def sign(self, key: SigningKey, claims: dict[str, Any], kid: str | None) -> str:
        imported: Any
        if key.secret:
            imported = JoserfcOctKey.import_key(key.secret)
        elif key.alg.startswith("ES"):
            imported = JoserfcECKey.import_key(key.private_pem)
        else:
            imported = JoserfcRSAKey.import_key(key.private_pem)
        return joserfc_jwt.encode(_headers(key.alg, kid), claims, imported, algorithms=[key.alg])

    def verify(self, job: Verification) -> dict[str, Any]:
        keys: Any
        if job.secret:
            keys = JoserfcOctKey.import_key(job.secret)
        else:
            keys = JoserfcKeySet.import_key_set(json.loads(_jwks_text(job.jwks_url)))
        return dict(joserfc_jwt.decode(job.token, keys, algorithms=[job.alg]).claims)


class Authlib(Library):
    name = "Authlib"

    def sign(self, key: SigningKey, claims: dict[str, Any], kid: str | None) -> str:
        token = AuthlibJsonWebToken([key.alg]).encode(_headers(key.alg, kid), claims, key.secret or key.private_pem)
        return token.decode("ascii")

    def verify(self, job: Verification) -> dict[str, Any]:
        keys: Any = job.secret or AuthlibJsonWebKey.import_key_set(json.loads(_jwks_text(job.jwks_url)))
        claims = AuthlibJsonWebToken([job.alg]).decode(job.token, keys)
        claims.validate()
        return dict(claims)


class PythonJose(Library):
    name = "python-jose"
    # python-jose implements no RSASSA-PSS (its ALGORITHMS.SUPPORTED has no PS*).
    supports = frozenset(alg for alg in ALGORITHMS if not alg.startswith("PS"))

    def sign(self, key: SigningKey, claims: dict[str, Any], kid: str | None) -> str:
        secret_or_pem = key.secret or key.private_pem
        return str(
            python_jose_jwt.encode(claims, secret_or_pem, algorithm=key.alg, headers={"kid": kid} if kid else None)
        )

    def verify(self, job: Verification) -> dict[str, Any]:
        # Given a whole JWK set, python-jose tries every key and fails on the first of another type ("Incorrect
        # key type"), so its users pick the key by kid first (Auth0's python-jose samples do exactly this).
        keys: Any = job.secret
        if not keys:
            kid = python_jose_jwt.get_unverified_header(job.token)["kid"]
            keys = next(key for key in json.loads(_jwks_text(job.jwks_url))["keys"] if key["kid"] == kid)
        options = {"verify_aud": False}
        return dict(python_jose_jwt.decode(job.token, keys, algorithms=[job.alg], options=options))


class NodeJose(Library):
    """node ``jose``, through tests/interop/node/interop.mjs; jobs are batched, one node process per call."""

    name = "node jose"

    @staticmethod
    def missing() -> str | None:
        """Why node jose cannot run here, or None."""
        if shutil.which("node") is None:
            return "node is not installed"
        if not (NODE_DIR / "node_modules" / "jose" / "package.json").is_file():
            return f"the npm package jose is not installed in {NODE_DIR} (run: npm ci --prefix {NODE_DIR})"
        return None

    def run(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        node = shutil.which("node")
        assert node is not None
        completed = subprocess.run(
            [node, str(NODE_DIR / "interop.mjs")],
            input=json.dumps(jobs).encode(),
            capture_output=True,
            check=True,
            timeout=60,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        answers: list[dict[str, Any]] = json.loads(completed.stdout)
        return answers

    def sign_job(self, key: SigningKey, claims: dict[str, Any], kid: str | None) -> dict[str, Any]:
        job: dict[str, Any] = {"op": "sign", "alg": key.alg, "claims": claims, "kid": kid}
        if key.secret:
            job["secret"] = b64url(key.secret)
        else:
            job["pkcs8"] = key.private_pem.decode()
        return job

    def verify_job(self, job: Verification) -> dict[str, Any]:
        if job.secret:
            return {"op": "verify-secret", "token": job.token, "secret": b64url(job.secret), "alg": job.alg}
        return {"op": "verify", "token": job.token, "jwks_url": job.jwks_url, "alg": job.alg}


PYTHON_LIBRARIES: tuple[Library, ...] = (PyJwt(), JwCrypto(), Joserfc(), Authlib(), PythonJose())
LIBRARY_NAMES = (*(library.name for library in PYTHON_LIBRARIES), NodeJose.name)


def pkcs8(private_key: Any) -> bytes:
    """A private key as unencrypted PKCS#8 PEM (what node's importPKCS8 reads)."""
    return bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
