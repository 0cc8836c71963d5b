"""The base of every domain error: a refusal that knows nothing of HTTP but carries what an edge needs.

Each edge maps a ``PortalError`` once: the REST API (``portal.api.problems``) answers a problem document with
its ``code`` and ``field``, 409 when ``conflict`` is set (a name taken, an object in use) and 400 otherwise;
the console shows the message beside ``field``; commands turn it into ``CommandError``.
"""

from __future__ import annotations


class PortalError(Exception):
    """A request the domain refuses.

    ``code`` is a stable, machine-readable identifier (``rsa_key_too_small``, ``name_taken``...), defaulting
    to the class's ``default_code``; ``field`` names the input at fault, when one is; ``conflict`` says the
    input is well formed but clashes with the current state (a name already taken, an object still in use),
    as opposed to being invalid in itself.
    """

    default_code = "invalid"

    def __init__(
        self, message: str, *, code: str | None = None, field: str | None = None, conflict: bool = False
    ) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.field = field
        self.conflict = conflict
