"""Domain errors of the token APIs. They know nothing of HTTP; the gateway view maps them to answers.

``TokensError`` is the app's base (see portal.errors); ``ApiError`` the base of what refuses an API document,
a policy's configuration or a publication, so callers catch that one class.
"""

from __future__ import annotations

from portal.errors import PortalError


class TokensError(PortalError):
    """A refusal about APIs, their documents and policies, publications, consumer apps or tokens."""


class ApiError(TokensError):
    """An API document, a policy's configuration or a publication is refused."""


class DocumentError(ApiError):
    """An API document is malformed; the message names the place at fault."""

    default_code = "invalid_document"


class StaleDocumentError(ApiError):
    """A document replacement was based on a version of the document that is no longer the stored one."""

    default_code = "precondition_failed"


class PolicyConfigError(ApiError):
    """A policy's configuration is refused at publish, naming the policy title and the property."""

    default_code = "invalid_policy"

    def __init__(self, message: str, *, policy: str = "", prop: str = "") -> None:
        super().__init__(message)
        self.policy = policy
        self.prop = prop


class PublishError(ApiError):
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
