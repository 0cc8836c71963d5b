"""In-process micro benchmark: tokens.jose against raw cryptography RS256 and PyJWT on RSA-2048.

Run from the project root: ``.venv/bin/python bench/jose_micro.py [--rounds 7]``. Prints operations per
second (median of the rounds) and the ratio to raw cryptography; higher is better. Raw means the bare
``sign``/``verify`` call on the same signing input, with no JSON or base64url around it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tokens.jose import JwsKey, sign_compact, verify_compact

CLAIMS = {
    "iss": "apic",
    "aud": "id1",
    "sub": "client-1234",
    "iat": 1_700_000_000,
    "exp": 1_700_000_060,
    "jti": "9f1c2d3e-4b5a-4c6d-8e7f-0123456789ab",
}


def _rate(operation: Callable[[], object], seconds: float) -> float:
    """Operations per second over roughly ``seconds`` of wall time."""
    count = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while True:
        for _ in range(20):
            operation()
        count += 20
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def _median_rates(operations: dict[str, Callable[[], object]], rounds: int, seconds: float) -> dict[str, float]:
    # Interleave the contenders in every round so drift (thermal, other load) hits them alike.
    samples: dict[str, list[float]] = {name: [] for name in operations}
    for _ in range(rounds):
        for name, operation in operations.items():
            samples[name].append(_rate(operation, seconds))
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.5, help="duration of one measurement")
    options = parser.parse_args()

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key()
    signer = JwsKey.from_private_key(private)
    verifier = JwsKey.from_public_key(public)
    kid = signer.thumbprint()

    token = sign_compact(claims=CLAIMS, key=signer, alg="RS256", kid=kid)
    signing_input = token.rsplit(".", 1)[0].encode("ascii")
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    raw_signature = private.sign(signing_input, pkcs1, sha256)
    pyjwt_token = jwt.encode(CLAIMS, private, algorithm="RS256", headers={"kid": kid})
    pyjwt_options: Any = {"verify_exp": False, "verify_aud": False, "verify_iat": False}

    sign = _median_rates(
        {
            "raw": lambda: private.sign(signing_input, pkcs1, sha256),
            "jose": lambda: sign_compact(claims=CLAIMS, key=signer, alg="RS256", kid=kid),
            "pyjwt": lambda: jwt.encode(CLAIMS, private, algorithm="RS256", headers={"kid": kid}),
        },
        options.rounds,
        options.seconds,
    )
    verify = _median_rates(
        {
            "raw": lambda: public.verify(raw_signature, signing_input, pkcs1, sha256),
            "jose": lambda: verify_compact(token, keys=(verifier,), algorithms=("RS256",)),
            "pyjwt": lambda: jwt.decode(pyjwt_token, public, algorithms=["RS256"], options=pyjwt_options),
        },
        options.rounds,
        options.seconds,
    )
    print(f"RSA-2048 RS256, {options.rounds} rounds of {options.seconds}s, medians (ops/s; ratio to raw)")
    for title, rates in (("sign", sign), ("verify", verify)):
        raw = rates["raw"]
        row = "  ".join(f"{name} {rate:9.0f}/s {rate / raw:5.2f}x" for name, rate in rates.items())
        print(f"{title:6} {row}  jose/pyjwt {rates['jose'] / rates['pyjwt']:4.2f}x")


if __name__ == "__main__":
    main()
