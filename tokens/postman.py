"""A Postman collection (format v2.1) for a published API.

Each operation becomes a request carrying the client id; request headers the assembly reads
(``request.headers.<name>`` in jwt-generate claims) become editable headers. A jwt-generate operation gets a
post-response script storing the Authorization response header in the global ``jwt_token``, and a
jwt-validate operation a pre-request script sending it, as in the APIC tutorial this portal reproduces.
"""

from __future__ import annotations

import uuid
from typing import Any

from tokens.documents import CLIENT_ID_HEADER, CLIENT_SECRET_HEADER, ApiDescription, document_describe

SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
STORE_TOKEN = [
    "// Keep the token for the validate request (APIC tutorial: global jwt_token).",
    "const authorization = pm.response.headers.get('Authorization');",
    "if (authorization) { pm.globals.set('jwt_token', authorization); }",
]
SEND_TOKEN = [
    "// Send the token stored by the generate request.",
    "const token = pm.globals.get('jwt_token');",
    "if (token) { pm.request.headers.upsert({ key: 'Authorization', value: token }); }",
]
EXAMPLE_HEADER_VALUES = {"iss-claim": "apic", "aud-claim": "id1", "sub-claim": "subject"}


def _policies_by_operation(assembly: dict[str, Any]) -> dict[tuple[str, str], list[tuple[str, dict[str, Any]]]]:
    """Which policies each (VERB, path) runs, read from the operation-switch cases."""
    found: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}

    def walk(policies: Any, operations: list[tuple[str, str]]) -> None:
        for entry in policies if isinstance(policies, list) else []:
            if not isinstance(entry, dict) or len(entry) != 1:
                continue
            kind, config = next(iter(entry.items()))
            config = config if isinstance(config, dict) else {}
            if kind == "operation-switch":
                for case in config.get("case") or []:
                    ops = [
                        (str(op.get("verb", "")).upper(), str(op.get("path", "")))
                        for op in case.get("operations") or []
                        if isinstance(op, dict)
                    ]
                    walk(case.get("execute"), ops)
            for operation in operations:
                found.setdefault(operation, []).append((kind, config))

    walk(assembly.get("execute"), [])
    return found


def _request_headers(policies: list[tuple[str, dict[str, Any]]]) -> list[str]:
    names: list[str] = []
    for kind, config in policies:
        if kind != "jwt-generate":
            continue
        for prop in ("iss-claim", "sub-claim", "aud-claim"):
            variable = config.get(prop)
            if isinstance(variable, str) and variable.startswith("request.headers."):
                names.append(variable[len("request.headers.") :])
    return names


def postman_collection(*, document: dict[str, Any], gateway_url: str, client_id: str) -> dict[str, Any]:
    """The collection for an API served at ``gateway_url`` (its base URL), with ``client_id`` filled in."""
    description: ApiDescription = document_describe(document)
    policies = _policies_by_operation(description.assembly)
    items = []
    for operation in description.operations:
        runs = policies.get((operation.verb, operation.path), [])
        kinds = {kind for kind, _ in runs}
        headers = []
        if description.client_id_required:
            headers.append({"key": CLIENT_ID_HEADER, "value": "{{client_id}}"})
        if description.client_secret_required:
            headers.append({"key": CLIENT_SECRET_HEADER, "value": "{{client_secret}}"})
        for name in _request_headers(runs):
            headers.append({"key": name, "value": EXAMPLE_HEADER_VALUES.get(name.lower(), "")})
        events = []
        if "jwt-generate" in kinds:
            events.append({"listen": "test", "script": {"type": "text/javascript", "exec": STORE_TOKEN}})
        if "jwt-validate" in kinds:
            events.append({"listen": "prerequest", "script": {"type": "text/javascript", "exec": SEND_TOKEN}})
        path_segments = [segment for segment in operation.path.split("/") if segment]
        items.append(
            {
                "name": f"{operation.verb} {operation.path}",
                "event": events,
                "request": {
                    "method": operation.verb,
                    "header": headers,
                    "url": {
                        "raw": "{{gateway_url}}" + operation.path,
                        "host": ["{{gateway_url}}"],
                        "path": path_segments,
                    },
                },
            }
        )
    variables = [
        {"key": "gateway_url", "value": gateway_url.rstrip("/")},
        {"key": "client_id", "value": client_id},
    ]
    if description.client_secret_required:
        variables.append({"key": "client_secret", "value": ""})
    return {
        "info": {
            "_postman_id": str(uuid.uuid5(uuid.NAMESPACE_URL, gateway_url)),
            "name": f"{description.title} {description.version}",
            "schema": SCHEMA,
        },
        "item": items,
        "variable": variables,
    }
