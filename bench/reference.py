"""Reference endpoints the gateway is measured against, in the same gunicorn (served only by bench.settings).

* ``GET /bench/pyjwt/sign``: what a hand-written Django view minting the gateway's token costs: the same
  claims (iss and aud from the ``iss-claim`` and ``aud-claim`` headers, iat, exp, a UUID4 jti), RS256 with a
  pre-loaded RSA-2048 key, the token in the ``Authorization`` response header.
* ``GET /bench/pyjwt/verify``: the same for checking a bearer token: signature, exp, issuer and audience,
  claims back as JSON.
* ``GET /bench/drf``: the floor of a JSON answer from Django REST framework: an ``APIView`` returning a
  small JSON object, no authentication or permissions.
"""

from __future__ import annotations

import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.workload import ALGORITHM, AUDIENCE, ISSUER, RSA_BITS, VALIDITY_SECONDS

# Made at import: bench.wsgi imports this module before gunicorn forks, so all workers share the key.
_PRIVATE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
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
