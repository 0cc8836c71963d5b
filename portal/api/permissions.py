"""Roles and the permission classes of the REST API, each named after its rule.

A caller's role is per organization (``api_role``): an API key has its role in its own organization and
none elsewhere; a console user is ``operator`` in every organization when a superuser or in the group
"Operators", ``auditor`` when in "Auditors". Views name the organization in the URL (``{org}``); the
organization of a caller without a role there answers 404, never 403, so nobody learns which exist.

Compose classes per view with DRF's operators, e.g. ``IsOperator | (IsAuditor & ReadOnly)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.contrib.auth.base_user import AbstractBaseUser
from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from portal.apikeys import ApiKeyPrincipal
from portal.console import AUDITORS, OPERATORS

if TYPE_CHECKING:  # rest_framework.views imports the API settings, which import this module
    from rest_framework.views import APIView


class Role(StrEnum):
    OPERATOR = "operator"
    AUDITOR = "auditor"
    SIGNER = "signer"


def user_role(user: AbstractBaseUser) -> Role | None:
    if getattr(user, "is_superuser", False):
        return Role.OPERATOR
    cached: Role | str | None = getattr(user, "_portal_api_role", "")
    if cached != "":
        return cached or None  # type: ignore[return-value]
    groups = set(user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]
    role = Role.OPERATOR if OPERATORS in groups else Role.AUDITOR if AUDITORS in groups else None
    user._portal_api_role = role  # type: ignore[attr-defined]  # one query per request, not per check
    return role


def api_role(request: Request, organization_slug: str) -> Role | None:
    """The caller's role in the organization ``organization_slug``, or None (no database query for a key)."""
    user = request.user
    if isinstance(user, ApiKeyPrincipal):
        return Role(user.role) if user.organization_slug == organization_slug else None
    if user is None or not user.is_authenticated:
        return None
    return user_role(user)


def organization_slug_of(view: APIView) -> str:
    """The ``{org}`` of the view's URL."""
    return str(view.kwargs["org"])


class _RolePermission(BasePermission):
    """Grants the roles in ``roles``; an authenticated caller with no role in the URL's organization gets 404."""

    roles: frozenset[Role] = frozenset()

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.user is None or not request.user.is_authenticated:
            return False
        role = api_role(request, organization_slug_of(view))
        if role is None:
            raise exceptions.NotFound("No such organization.")
        return role in self.roles


class IsOperator(_RolePermission):
    """Operators: everything in their organization."""

    message = "This needs the operator role."
    roles = frozenset({Role.OPERATOR})


class IsAuditor(_RolePermission):
    """Auditors (combine with ReadOnly)."""

    message = "This needs the auditor or operator role."
    roles = frozenset({Role.AUDITOR})


class IsAuditorOrOperator(_RolePermission):
    """Readers: auditors and operators."""

    message = "This needs the auditor or operator role."
    roles = frozenset({Role.AUDITOR, Role.OPERATOR})


class IsSigner(_RolePermission):
    message = "This needs a signer or operator key."
    roles = frozenset({Role.SIGNER})


class ReadOnly(BasePermission):
    """Safe methods only (GET, HEAD, OPTIONS)."""

    message = "This role may only read."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return request.method in SAFE_METHODS


# Operators do everything in their organization; auditors read it.
OperatorOrReadingAuditor = IsOperator | (IsAuditor & ReadOnly)


@lru_cache(maxsize=256)
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


def claim_matches(pattern: str, value: Any) -> bool:
    """True when ``pattern`` (empty: anything) matches the whole of ``value``; for a list, every element.

    A signer's constraints are stricter than jwt-validate's audience rule ("any element"): a token minted for
    one allowed and one foreign audience would be accepted by the foreign one.
    """
    if not pattern:
        return True
    values = value if isinstance(value, list) else [value]
    if not values:
        return False
    return all(isinstance(v, str) and _pattern(pattern).fullmatch(v) is not None for v in values)


def signing_refusal(principal: ApiKeyPrincipal, *, claims: Mapping[str, Any], expires_in: int | None) -> str | None:
    """Why ``principal`` may not sign ``claims`` valid for ``expires_in`` seconds, or None when it may.

    ``allow_iss`` / ``allow_aud`` / ``allow_sub`` (when set) require the claim to be present and to match;
    ``max_expires_in`` (when set) caps the lifetime, which must then be given.
    """
    for claim, pattern in (("iss", principal.allow_iss), ("aud", principal.allow_aud), ("sub", principal.allow_sub)):
        if pattern and (claim not in claims or not claim_matches(pattern, claims[claim])):
            return f"This key may only sign tokens whose '{claim}' matches {pattern!r}."
    if principal.max_expires_in is not None and (expires_in is None or expires_in > principal.max_expires_in):
        return f"This key may only sign tokens valid for at most {principal.max_expires_in} seconds."
    return None


def _has_constraints(principal: ApiKeyPrincipal) -> bool:
    return (
        bool(principal.allow_iss or principal.allow_aud or principal.allow_sub) or principal.max_expires_in is not None
    )


class CanUseProfile(BasePermission):
    """Operators, and signer keys that list the view's key profile (``view.kwargs['name']``): to validate."""

    message = "This key may not use this key profile."
    profile_kwarg = "name"

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.user is None or not request.user.is_authenticated:
            return False
        role = api_role(request, organization_slug_of(view))
        if role is None:
            raise exceptions.NotFound("No such organization.")
        if role == Role.OPERATOR:
            return True
        if role != Role.SIGNER or not isinstance(request.user, ApiKeyPrincipal):
            return False
        return str(view.kwargs[self.profile_kwarg]) in request.user.profiles


class CanSignWithProfile(CanUseProfile):
    """``CanUseProfile``, and for a signer the claim constraints of its key (``signing_refusal``) on the
    request's ``claims`` and ``expires_in``. Operators sign anything in their organization."""

    message = "This key may not sign with this key profile."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not super().has_permission(request, view):
            return False
        principal = request.user
        if not isinstance(principal, ApiKeyPrincipal) or principal.role != Role.SIGNER:
            return True
        if not _has_constraints(principal):
            # Nothing to check in the body: leave parsing to the view (request.data is parsed once either way).
            return True
        data = request.data if isinstance(request.data, Mapping) else {}
        claims = data.get("claims")
        expires_in = data.get("expires_in", getattr(view, "default_expires_in", None))
        if not isinstance(claims, Mapping) or not (expires_in is None or type(expires_in) is int):
            # Checked strictly here rather than left to the serializer, whose coercions ("60" -> 60) must not
            # open a way around the constraints.
            raise exceptions.PermissionDenied(
                "This key signs only requests whose 'claims' is an object and 'expires_in' an integer.",
                code="claims_not_allowed",
            )
        refusal = signing_refusal(principal, claims=claims, expires_in=expires_in)
        if refusal is not None:
            raise exceptions.PermissionDenied(refusal, code="claims_not_allowed")
        return True
