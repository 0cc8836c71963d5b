"""throw: raise a named error, for a catch block (or the gateway's error answer) to handle."""

from __future__ import annotations

from typing import Any

from tokens.context import Context
from tokens.errors import AssemblyError
from tokens.policies.base import BuildPolicies, CryptoResolver, Policy, PolicyKind, Properties, Property

KIND = "throw"
PROPERTIES: dict[str, Property] = {
    "name": Property(starts_new=True, new_value="RuntimeError"),  # required; the error catch blocks match
    "message": Property("", starts_new=True, new_value=""),
}


class Throw(Policy):
    kind = KIND

    def __init__(self, title: str, config: dict[str, Any]) -> None:
        super().__init__(title)
        props = Properties(self.kind, title, config, PROPERTIES)
        self.name = props.string("name")
        if not self.name:
            props.fail("name", "is required: the error name catch blocks match")
        self.message = props.string("message") or ""

    def run(self, context: Context) -> None:
        assert self.name is not None
        message = context.interpolate(self.message) if "$(" in self.message else self.message
        raise AssemblyError(self.name, str(message), status=500)


class ThrowKind(PolicyKind):
    def summary(self, config: dict[str, Any]) -> str:
        return f"throws {config.get('name') or '?'}"


def _compile(title: str, config: dict[str, Any], resolver: CryptoResolver, build: BuildPolicies) -> Policy:
    return Throw(title, config)


POLICY = ThrowKind(kind=KIND, properties=PROPERTIES, compile=_compile)
