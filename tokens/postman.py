"""A Postman collection (format v2.1) for a published API.

Each operation becomes a request carrying the client id; request headers the policies it runs read for the
claims of a token they make (``request.headers.<name>``) become editable headers. An operation that makes a
token gets a post-response script storing the Authorization response header in the global ``jwt_token``,
and one that checks a token a pre-request script sending it, as in the APIC tutorial this portal
reproduces. The policies an operation runs are the walker's (``tokens.policies.walker``): every
operation-switch case (by verb and path or by operationId) and ``otherwise``, as the gateway chooses.
"""

from __future__ import annotations

import uuid
from typing import Any

from tokens.documents import CLIENT_ID_HEADER, CLIENT_SECRET_HEADER, ApiDescription, document_describe
from tokens.policies.base import PolicyKind
from tokens.policies.registry import policy_kind
from tokens.policies.walker import PolicyVisit, assembly_walk

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
REQUEST_HEADER = "request.headers."
EXAMPLE_HEADER_VALUES = {"iss-claim": "apic", "aud-claim": "id1", "sub-claim": "subject"}


def _request_headers(runs: list[tuple[PolicyVisit, PolicyKind]]) -> list[str]:
    """The request headers the claims of the tokens made on the way read (``request.headers.<name>``)."""
    names: list[str] = []
    for visit, kind in runs:
        for _, variable in kind.claim_variables(visit.config):
            if variable.startswith(REQUEST_HEADER):
                names.append(variable[len(REQUEST_HEADER) :])
    return names


def postman_collection(*, document: dict[str, Any], gateway_url: str, client_id: str) -> dict[str, Any]:
    """The collection for an API served at ``gateway_url`` (its base URL), with ``client_id`` filled in."""
    description: ApiDescription = document_describe(document)
    items = []
    for operation in description.operations:
        runs = [
            (visit, kind)
            for visit in assembly_walk(description.assembly, operation=operation, catches=False)
            if (kind := policy_kind(visit.kind)) is not None
        ]
        headers = []
        if description.client_id_required:
            headers.append({"key": CLIENT_ID_HEADER, "value": "{{client_id}}"})
        if description.client_secret_required:
            headers.append({"key": CLIENT_SECRET_HEADER, "value": "{{client_secret}}"})
        for name in _request_headers(runs):
            headers.append({"key": name, "value": EXAMPLE_HEADER_VALUES.get(name.lower(), "")})
        events = []
        if any(kind.makes_token for _, kind in runs):
            events.append({"listen": "test", "script": {"type": "text/javascript", "exec": STORE_TOKEN}})
        if any(kind.token_variable(visit.config) for visit, kind in runs):
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
