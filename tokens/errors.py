"""Domain errors of the token APIs. They know nothing of HTTP; the gateway view maps them to answers."""

from __future__ import annotations

from portal.errors import PortalError


class DocumentError(PortalError):
    """An API document is malformed; the message names the place at fault."""

    default_code = "invalid_document"


class StaleDocumentError(PortalError):
    """A document replacement was based on a version of the document that is no longer the stored one."""

    default_code = "precondition_failed"


class PolicyConfigError(PortalError):
    """A policy's configuration is refused at publish, naming the policy title and the property."""

    default_code = "invalid_policy"

    def __init__(self, message: str, *, policy: str = "", prop: str = "") -> None:
        super().__init__(message)
        self.policy = policy
        self.prop = prop


class PublishError(PortalError):
    """An API cannot be published (unsupported policy, base path taken, bad state change...)."""

    default_code = "publish_refused"


class AssemblyError(Exception):
    """An error raised while an assembly runs: caught by ``catch`` blocks by ``name``, else answered with
    ``status`` in the gateway's JSON shape."""

    def __init__(
        self,
        name: str,
        message: str,
        *,
        status: int = 500,
        reason: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.status = status
        self.reason = reason
        self.headers = headers or {}
