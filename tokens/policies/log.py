"""log: set what the call's activity record holds, and write it (APIC's ``log`` policy; ``tokens.activity``
says what a record holds at each level)."""

from __future__ import annotations

from typing import Any

from tokens.activity import LEVELS, LOG_LEVEL_VARIABLE, activity_write
from tokens.context import Context
from tokens.policies.base import BuildPolicies, CryptoResolver, Policy, PolicyKind, Properties, Property

KIND = "log"
MODES = ("gather-only", "send", "gather-and-send")
PROPERTIES: dict[str, Property] = {
    "log-level": Property("default", starts_new=True, new_value="default"),
    "mode": Property("gather-only", starts_new=True, new_value="gather-only"),
}


class Log(Policy):
    """APIC's ``log`` policy; see the module docstring."""

    kind = KIND

    def __init__(self, title: str, config: dict[str, Any]) -> None:
        super().__init__(title)
        props = Properties(self.kind, title, config, PROPERTIES)
        level = props.string("log-level") or "default"
        if level != "default" and level not in LEVELS:
            props.fail("log-level", f"must be default or one of {', '.join(LEVELS)}, not {level!r}")
        mode = props.string("mode") or "gather-only"
        if mode not in MODES:
            props.fail("mode", f"must be one of {', '.join(MODES)}, not {mode!r}")
        self.level = None if level == "default" else level
        self.gather = mode != "send"
        self.send = mode != "gather-only"

    def run(self, context: Context) -> None:
        if self.gather and self.level is not None:
            context.set(LOG_LEVEL_VARIABLE, self.level)
        if self.send:
            level = self.level or context.get(LOG_LEVEL_VARIABLE) or "activity"
            activity_write(context, str(level))


class LogKind(PolicyKind):
    def summary(self, config: dict[str, Any]) -> str:
        return f"{config.get('mode') or 'gather-only'}, level {config.get('log-level') or 'default'}"


def _compile(title: str, config: dict[str, Any], resolver: CryptoResolver, build: BuildPolicies) -> Policy:
    return Log(title, config)


POLICY = LogKind(kind=KIND, properties=PROPERTIES, compile=_compile)
