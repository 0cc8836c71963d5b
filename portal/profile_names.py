"""The key profile names of an organization, as seen from ``portal``, which may not import ``keyprofiles``.

DESIGN.md section 5 lets ``keyprofiles`` import ``portal`` and never the other way, yet an API key names key
profiles and must not name one that does not exist. So ``keyprofiles`` registers a provider here from its
``AppConfig.ready`` and ``portal`` asks through :func:`organization_profile_names`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from portal.models import Organization

ProfileNamesProvider = Callable[[Organization], Collection[str]]

_provider: ProfileNamesProvider | None = None


def profile_names_provider_register(provider: ProfileNamesProvider) -> None:
    """Make ``provider`` the source of key profile names (the last registration wins, so a reload is harmless)."""
    global _provider
    _provider = provider


def organization_profile_names(organization: Organization) -> frozenset[str] | None:
    """The names of the key profiles of ``organization``; None when no provider is registered (no key profiles app)."""
    if _provider is None:
        return None
    return frozenset(_provider(organization))
