"""Reference endpoints the gateway is measured against, in the same gunicorn (served only by bench.settings).

* ``GET /bench/pyjwt/sign``: what a hand-written Django view minting the gateway's token costs: the same
  claims (iss and aud from the ``iss-claim`` and ``aud-claim`` headers, iat, exp, a UUID4 jti), RS256 with a
  pre-loaded RSA-2048 key, the token in the ``Authorization`` response header.
* ``GET /bench/pyjwt/verify``: the same for checking a bearer token: signature, exp, issuer and audience,
  claims back as JSON.
* ``GET /bench/drf``: the floor of a JSON answer from Django REST framework: an ``APIView`` returning a
  small JSON object, no authentication or permissions.
* ``POST /bench/drf/sign`` and ``POST /bench/drf/verify``: what the token service (``/api/v1/.../tokens`` and
  ``.../tokens/validate``) is measured against: DRF ``APIView`` s that check a bearer API key held in memory
  (constant-time comparison), then sign the request's claims (plus iat, exp and a UUID4 jti) or verify a
  token (signature, exp, issuer, audience) with PyJWT and the pre-loaded key, answering JSON.

The key is the token service's own (``BENCH_REFERENCE_KEY_FILE``, written by bench/server.py), loaded once
at import; without that variable (e.g. when ``manage.py`` imports the URL conf) a fresh key is made.
"""

from __future__ import annotations

import hmac
import os
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from jwt.algorithms import RSAAlgorithm
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.workload import ALGORITHM, AUDIENCE, ISSUER, RSA_BITS, VALIDITY_SECONDS


def _private_key() -> Any:
    path = os.environ.get("BENCH_REFERENCE_KEY_FILE")
    if path:
        return RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(Path(path).read_bytes())  # once, at import
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


# Made at import: bench.wsgi imports this module before gunicorn forks, so all workers share the key.
_PRIVATE_KEY = _private_key()
_API_KEY = os.environ.get("BENCH_REFERENCE_API_KEY", "").encode()
_PUBLIC_KEY = _PRIVATE_KEY.public_key()
_KID = "bench-reference"
_REQUIRED_CLAIMS = {"require": ["exp", "iss", "aud"]}


@csrf_exempt
def pyjwt_sign(request: HttpRequest) -> HttpResponse:
    issuer, audience = request.headers.get("iss-claim"), request.headers.get("aud-claim")
    if not issuer or not audience:
        return HttpResponse("iss-claim and aud-claim headers are required", status=400, content_type="text/plain")
    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "iat": now, "exp": now + VALIDITY_SECONDS, "jti": str(uuid.uuid4())}
    token = jwt.encode(claims, _PRIVATE_KEY, algorithm=ALGORITHM, headers={"kid": _KID})
    response = HttpResponse()
    response["Authorization"] = f"Bearer {token}"
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
def pyjwt_verify(request: HttpRequest) -> HttpResponse:
    token = request.headers.get("Authorization", "")
    if token[:7].lower() == "bearer ":
        token = token[7:]
    try:
        claims = jwt.decode(
            token, _PUBLIC_KEY, algorithms=[ALGORITHM], issuer=ISSUER, audience=AUDIENCE, options=_REQUIRED_CLAIMS
        )
    except jwt.InvalidTokenError as e:
        return HttpResponse(f"JWT validation failed: {e}", status=401, content_type="text/plain")
    response = JsonResponse(claims)
    response["Cache-Control"] = "no-store"
    return response


class MinimalView(APIView):
    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class _InMemoryKeyUser:
    is_authenticated = True


class BearerKeyInMemory(BaseAuthentication):
    """``Authorization: Bearer <key>`` compared in constant time with the one key held in memory."""

    def authenticate(self, request: Request) -> tuple[_InMemoryKeyUser, None] | None:
        scheme, _, text = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        if not _API_KEY or not hmac.compare_digest(text.strip().encode(), _API_KEY):
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        return _InMemoryKeyUser(), None

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class _ReferenceApi(APIView):
    authentication_classes = (BearerKeyInMemory,)
    permission_classes = (IsAuthenticated,)
    throttle_classes = ()


class DrfSignView(_ReferenceApi):
    def post(self, request: Request) -> Response:
        claims = request.data.get("claims")
        expires_in = request.data.get("expires_in")
        if not isinstance(claims, dict) or type(expires_in) is not int or not 1 <= expires_in <= 31622400:
            raise exceptions.ValidationError("claims (an object) and expires_in (1 to 31622400) are required")
        now = int(time.time())
        payload = {**claims, "iat": now, "exp": now + expires_in, "jti": str(uuid.uuid4())}
        token = jwt.encode(payload, _PRIVATE_KEY, algorithm=ALGORITHM, headers={"kid": _KID})
        response = Response({"token": token, "alg": ALGORITHM, "jti": payload["jti"]}, status=201)
        response["Cache-Control"] = "no-store"
        return response


class DrfVerifyView(_ReferenceApi):
    def post(self, request: Request) -> Response:
        token = request.data.get("token")
        if not isinstance(token, str):
            raise exceptions.ValidationError("token is required")
        try:
            claims = jwt.decode(
                token, _PUBLIC_KEY, algorithms=[ALGORITHM], issuer=ISSUER, audience=AUDIENCE, options=_REQUIRED_CLAIMS
            )
        except jwt.InvalidTokenError as e:
            raise exceptions.ValidationError(f"JWT validation failed: {e}") from e
        response = Response({"claims": claims, "header": jwt.get_unverified_header(token)})
        response["Cache-Control"] = "no-store"
        return response
