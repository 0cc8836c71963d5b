"""The base of the key-profile app's domain errors (``KeyMaterialError``, ``SealingError``); see portal.errors."""

from __future__ import annotations

from portal.errors import PortalError


class KeyProfilesError(PortalError):
    """A refusal about key material, keystores, truststores or key profiles."""
