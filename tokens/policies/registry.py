"""The policy kinds the portal runs, by name, and what it says of the ones it does not run.

A kind not registered here is kept in the document and shown in the console, and publishing refuses it by
title and type (DESIGN.md section 3: silently skipping a policy would change what the API does).
"""

from __future__ import annotations

from collections.abc import Sequence

from tokens.errors import PublishError
from tokens.policies import (
    activity_log,
    gatewayscript,
    invoke,
    jwt_generate,
    jwt_validate,
    log,
    operation_switch,
    set_variable,
    switch,
    throw,
)
from tokens.policies.base import PolicyKind

POLICY_KINDS: dict[str, PolicyKind] = {
    module.POLICY.kind: module.POLICY
    for module in (
        operation_switch,
        jwt_generate,
        jwt_validate,
        set_variable,
        throw,
        gatewayscript,
        invoke,
        switch,
        log,
        activity_log,
    )
}

# APIC policies the portal keeps in documents but does not run: publishing refuses them by name.
KNOWN_UNSUPPORTED = frozenset(
    {
        "proxy",
        "map",
        "validate",
        "parse",
        "xslt",
        "ratelimit",
        "rate-limit",
        "redaction",
        "json-to-xml",
        "xml-to-json",
        "oauth",
        "client-security",
        "user-security",
        "websocket-upgrade",
        "graphql-introspect",
        "if",
    }
    - set(POLICY_KINDS)
)

NOT_RUN = "not run by the portal: kept in the document, and publishing refuses it"


def policy_kind(kind: str) -> PolicyKind | None:
    """The registered kind of that name; None for a kind the portal does not run."""
    return POLICY_KINDS.get(kind)


def addable_kinds() -> tuple[str, ...]:
    """The kinds the console's editor offers to add, in registry order."""
    return tuple(kind for kind, policy in POLICY_KINDS.items() if policy.addable)


def unsupported_refusal(found: Sequence[tuple[str, str, str]]) -> PublishError:
    """The publish refusal for policies the portal does not run, each (title, kind, where), all named at once."""

    def named(title: str, kind: str, where: str) -> str:
        known = "an APIC policy" if kind in KNOWN_UNSUPPORTED else "a policy type"
        return f"'{title}' of type '{kind}' ({known} the portal does not run) is in the assembly at {where}"

    if len(found) == 1:
        return PublishError(
            f"Policy {named(*found[0])}; "
            "remove or replace it before publishing: skipping it would change what the API does."
        )
    return PublishError(
        f"{len(found)} policies the portal does not run are in the assembly: "
        + "; ".join(named(*each) for each in found)
        + ". Remove or replace them before publishing: skipping them would change what the API does."
    )
