"""The base of every domain error: a refusal that knows nothing of HTTP but carries what an edge needs.

Each app derives its errors from ``PortalError`` (``keyprofiles.errors.KeyProfilesError``,
``tokens.errors.TokensError``). Each edge maps a refusal once:

* the REST API (``portal.api.problems``) answers a problem document with its ``code`` and ``field``, 409 when
  ``conflict`` is set (a name taken, an object in use) and 400 otherwise;
* the console (``portal.console.ServiceForm.add_service_error``) shows the message beside ``field``;
* commands (``portal.commands.PortalCommand``) turn it into ``CommandError``.

``REFUSALS`` is what those edges catch: a ``PortalError`` or Django's ``ValidationError`` (a model's
``full_clean``), and ``refusal_text`` the one sentence a person reads for either.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError


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


REFUSALS: tuple[type[Exception], ...] = (PortalError, ValidationError)


def refusal_text(error: Exception) -> str:
    """What a person reads for a refusal: a ValidationError's messages joined by '; ' (every field's, in
    order), any other error's own sentence."""
    if isinstance(error, ValidationError):
        return "; ".join(error.messages)
    return str(error)
