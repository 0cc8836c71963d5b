"""Give every keystore that existed before keys had one algorithm (keyprofiles 0004) the algorithm it signs with.

A key that served APIs signing with one algorithm keeps that algorithm, so that the JWKS now states the
algorithm its tokens really use (a PS256 key was announced as RS256). Any other key gets its natural algorithm:
RS256, or the ES* of its curve (what the JWKS announced before), HS256 for a shared secret.
"""

import json

from django.db import migrations

_RSA = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}


def _signing_policies(node):
    """Every jwt-generate configuration in an assembly, however deeply nested (cases, catches)."""
    if isinstance(node, dict):
        for kind, value in node.items():
            if kind == "jwt-generate" and isinstance(value, dict):
                yield value
            yield from _signing_policies(value)
    elif isinstance(node, list):
        for item in node:
            yield from _signing_policies(item)


def _algorithms_in_use(apps):
    """keystore id -> the algorithms served publications sign with through its crypto objects."""
    CryptoObject = apps.get_model("keyprofiles", "CryptoObject")
    Publication = apps.get_model("tokens", "Publication")
    keystore_of = dict(CryptoObject.objects.filter(keystore__isnull=False).values_list("name", "keystore_id"))
    used = {}
    for text in Publication.objects.exclude(state="retired").values_list("document_text", flat=True):
        try:
            document = json.loads(text)
        except ValueError:
            continue
        configuration = document.get("x-ibm-configuration") if isinstance(document, dict) else None
        assembly = configuration.get("assembly") if isinstance(configuration, dict) else None
        for policy in _signing_policies(assembly):
            keystore_id = keystore_of.get(policy.get("jws-crypto"))
            if keystore_id is not None and isinstance(policy.get("jws-alg"), str):
                used.setdefault(keystore_id, set()).add(policy["jws-alg"])
    return used


def fix_algorithms(apps, schema_editor):
    Keystore = apps.get_model("keyprofiles", "Keystore")
    used = _algorithms_in_use(apps)
    for keystore in Keystore.objects.filter(algorithm=""):
        if keystore.key_type == "RSA":
            allowed, natural = _RSA, "RS256"
        elif keystore.key_type == "EC":
            natural = _EC.get(keystore.curve, "")
            allowed = (natural,)
        else:
            # RFC 7518 section 3.2: an HMAC key at least as long as the hash output.
            sizes = {"HS256": 256, "HS384": 384, "HS512": 512}
            allowed, natural = tuple(name for name, bits in sizes.items() if keystore.key_size >= bits), "HS256"
        in_use = used.get(keystore.pk, set())
        (only,) = in_use if len(in_use) == 1 else (None,)
        algorithm = only if only in allowed else natural
        Keystore.objects.filter(pk=keystore.pk).update(algorithm=algorithm)


class Migration(migrations.Migration):
    dependencies = [
        ("tokens", "0003_merge_api_names"),
        ("keyprofiles", "0004_keystore_algorithm"),
    ]

    operations = [migrations.RunPython(fix_algorithms, migrations.RunPython.noop)]
