"""activity-log: the content level of this call's activity record, by outcome (the v5-compatible gateway's
``activity-log`` policy, version 1.0.0; the API gateway writes the same settings as
``x-ibm-configuration.activity-log``, read by ``tokens.activity.ActivityLogSettings``).

``content`` is the level when the call succeeds (default ``activity``), ``error-content`` when it fails
(default ``payload``): ``none``, ``activity``, ``header`` or ``payload``. The record is written when the call
ends, whether or not the document has an ``activity-log`` setting; a ``log`` policy's level still wins.
"""

from __future__ import annotations

from typing import Any

from tokens.activity import ERROR_CONTENT_VARIABLE, LEVELS, SUCCESS_CONTENT_VARIABLE
from tokens.context import Context
from tokens.policies.base import BuildPolicies, CryptoResolver, Policy, PolicyKind, Properties, Property

KIND = "activity-log"
PROPERTIES: dict[str, Property] = {
    "content": Property("activity", starts_new=True, new_value="activity"),
    "error-content": Property("payload", starts_new=True, new_value="payload"),
}


class ActivityLog(Policy):
    """The v5-compatible gateway's ``activity-log`` policy; see the module docstring."""

    kind = KIND

    def __init__(self, title: str, config: dict[str, Any]) -> None:
        super().__init__(title)
        props = Properties(self.kind, title, config, PROPERTIES)
        self.content = self._level(props, "content")
        self.error_content = self._level(props, "error-content")

    @staticmethod
    def _level(props: Properties, prop: str) -> str:
        level = props.string(prop) or PROPERTIES[prop].default
        if level not in LEVELS:
            props.fail(prop, f"must be one of {', '.join(LEVELS)}, not {level!r}")
        return str(level)

    def run(self, context: Context) -> None:
        context.set(SUCCESS_CONTENT_VARIABLE, self.content)
        context.set(ERROR_CONTENT_VARIABLE, self.error_content)


class ActivityLogKind(PolicyKind):
    def summary(self, config: dict[str, Any]) -> str:
        return f"success: {config.get('content') or 'activity'}, error: {config.get('error-content') or 'payload'}"


def _compile(title: str, config: dict[str, Any], resolver: CryptoResolver, build: BuildPolicies) -> Policy:
    return ActivityLog(title, config)


POLICY = ActivityLogKind(kind=KIND, properties=PROPERTIES, compile=_compile)
