"""What a call writes to the activity log: APIC's ``log`` policy and ``x-ibm-configuration.activity-log``.

API Connect sends each call's activity to its analytics service at a content level: ``none``, ``activity``
(API, operation, status, client app, timings), ``header`` (and the request's headers) or ``payload`` (and the
request body). The portal writes the same record as one line on the ``tokens.activity`` logger (the log
pipeline of the deployment is the analytics service), with the same levels:

- ``x-ibm-configuration.activity-log`` (``enabled``, ``success-content``, ``error-content``) sets the level for
  every call of the API, by outcome (APIC's defaults: ``activity`` for success, ``payload`` for errors);
- the v5-compatible gateway's ``activity-log`` policy (``content``, ``error-content``) sets the same two
  levels for the call it runs in;
- the ``log`` policy (``log-level``: ``default`` / ``none`` / ``activity`` / ``header`` / ``payload``, and
  ``mode``: ``gather-only`` / ``send`` / ``gather-and-send``) changes the level of the call it runs in
  (gather) and may write the record at that point (send).

Secrets are never written: ``Authorization``, ``Cookie``, ``X-IBM-Client-Secret`` and ``Proxy-Authorization``
are shown as ``[redacted]``, and a body is cut at ``MAX_PAYLOAD_CHARS``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tokens.context import Context

logger = logging.getLogger("tokens.activity")

LEVELS = ("none", "activity", "header", "payload")
LOG_LEVEL_VARIABLE = "log.level"  # set by a log policy that gathers; read when the call's record is written
# Set by an activity-log policy: the call's levels by outcome, over the document's settings.
SUCCESS_CONTENT_VARIABLE = "log.success-content"
ERROR_CONTENT_VARIABLE = "log.error-content"
MAX_PAYLOAD_CHARS = 4096
_REDACTED = frozenset({"authorization", "proxy-authorization", "cookie", "x-ibm-client-secret"})


@dataclass(frozen=True)
class ActivityLogSettings:
    """``x-ibm-configuration.activity-log``: the content level of a call's record, by outcome."""

    enabled: bool = True
    success_content: str = "activity"
    error_content: str = "payload"

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ActivityLogSettings:
        """The document's settings (APIC's defaults where absent). Raises ValueError naming a bad entry."""
        configuration = document.get("x-ibm-configuration")
        entry = configuration.get("activity-log") if isinstance(configuration, dict) else None
        if entry is None:
            return cls()
        if not isinstance(entry, dict):
            raise ValueError("x-ibm-configuration.activity-log must be a mapping")
        enabled = entry.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ValueError("x-ibm-configuration.activity-log.enabled must be true or false")
        contents = []
        for name, default in (("success-content", "activity"), ("error-content", "payload")):
            value = entry.get(name, default)
            if value not in LEVELS:
                raise ValueError(f"x-ibm-configuration.activity-log.{name} must be one of {', '.join(LEVELS)}")
            contents.append(value)
        return cls(enabled, contents[0], contents[1])

    def level(self, context: Context, *, failed: bool) -> str:
        if not self.enabled:
            return "none"
        chosen = context.get(LOG_LEVEL_VARIABLE)
        if chosen in LEVELS:
            return str(chosen)
        by_policy = context.get(ERROR_CONTENT_VARIABLE if failed else SUCCESS_CONTENT_VARIABLE)
        if by_policy in LEVELS:
            return str(by_policy)
        return self.error_content if failed else self.success_content


def activity_write(context: Context, level: str, *, error: str | None = None) -> None:
    """Write the call's activity record at ``level`` (nothing for ``none``)."""
    if level == "none" or level not in LEVELS or not logger.isEnabledFor(logging.INFO):
        return
    record: dict[str, Any] = {
        "api": context.get("api.name"),
        "version": context.get("api.version"),
        "catalog": context.get("api.catalog.name"),
        "operation": context.get("api.operation.id") or context.get("api.operation.path"),
        "verb": context.get("request.verb"),
        "path": context.get("request.path"),
        "status": context.get("message.status.code"),
        "client_app": context.get("client.app.name") or context.get("client.app.id"),
    }
    if error is not None:
        record["error"] = error
    if level in ("header", "payload"):
        record["request_headers"] = {
            name: "[redacted]" if name in _REDACTED else value
            for name, value in context.request_headers.as_dict().items()
        }
    if level == "payload":
        body = context.get("request.body")
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else "" if body is None else str(body)
        record["request_body"] = text[:MAX_PAYLOAD_CHARS]
    logger.info("activity", extra={"activity": record})
