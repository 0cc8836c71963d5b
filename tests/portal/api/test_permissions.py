"""The signer rule the token service relies on: listed profiles only, within the key's claim constraints."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from portal.api.permissions import CanSignWithProfile, CanUseProfile, claim_matches, signing_refusal
from portal.apikeys import ApiKeyPrincipal


def principal(role: str = "signer", **overrides: Any) -> ApiKeyPrincipal:
    values: dict[str, Any] = {
        "key_id": 1,
        "name": "signer",
        "organization_id": 1,
        "organization_slug": "personal",
        "role": role,
        "profiles": frozenset({"jwt-keyprofile"}),
        "allow_iss": "",
        "allow_aud": "",
        "allow_sub": "",
        "max_expires_in": None,
        "expires_at": None,
        "revoked": False,
    }
    return ApiKeyPrincipal(**{**values, **overrides})


def request_for(who: ApiKeyPrincipal, data: Any) -> tuple[Request, APIView]:
    request = Request(APIRequestFactory().post("/", data, format="json"), parsers=[_json_parser()])
    request.user = who
    view = APIView()
    view.kwargs = {"org": "personal", "name": "jwt-keyprofile"}
    return request, view


def _json_parser() -> Any:
    from portal.api.parsers import BoundedJSONParser

    return BoundedJSONParser()


def test_claim_patterns_match_the_whole_value_and_every_audience() -> None:
    assert claim_matches("apic", "apic")
    assert not claim_matches("apic", "apic.evil")
    assert claim_matches("id[0-9]", ["id1", "id2"])
    assert not claim_matches("id[0-9]", ["id1", "evil"])
    assert not claim_matches("id[0-9]", [])
    assert claim_matches("", "anything")


def test_signing_refusal_checks_each_constraint() -> None:
    constrained = principal(allow_iss="apic", allow_aud="id1", max_expires_in=60)
    good = {"iss": "apic", "aud": "id1"}
    assert signing_refusal(constrained, claims=good, expires_in=60) is None
    assert "'iss'" in (signing_refusal(constrained, claims={**good, "iss": "other"}, expires_in=60) or "")
    assert "'aud'" in (signing_refusal(constrained, claims={"iss": "apic"}, expires_in=60) or "")
    assert "60 seconds" in (signing_refusal(constrained, claims=good, expires_in=61) or "")
    assert "60 seconds" in (signing_refusal(constrained, claims=good, expires_in=None) or "")
    assert signing_refusal(principal(), claims={"iss": "any"}, expires_in=10**6) is None


def test_a_signer_may_use_only_its_listed_profiles() -> None:
    request, view = request_for(principal(), {"token": "x"})
    assert CanUseProfile().has_permission(request, view)
    view.kwargs["name"] = "other-profile"
    assert not CanUseProfile().has_permission(request, view)


def test_an_auditor_may_not_use_a_profile_and_an_operator_may() -> None:
    request, view = request_for(principal("auditor"), {})
    assert not CanUseProfile().has_permission(request, view)
    request, view = request_for(principal("operator"), {})
    assert CanUseProfile().has_permission(request, view)


def test_a_key_of_another_organization_gets_404() -> None:
    request, view = request_for(principal(organization_slug="other"), {})
    with pytest.raises(exceptions.NotFound):
        CanUseProfile().has_permission(request, view)


def test_can_sign_applies_the_claim_constraints_to_the_request() -> None:
    constrained = principal(allow_aud="id1", max_expires_in=60)
    request, view = request_for(constrained, {"claims": {"aud": "id1"}, "expires_in": 60})
    assert CanSignWithProfile().has_permission(request, view)
    request, view = request_for(constrained, {"claims": {"aud": "id2"}, "expires_in": 60})
    with pytest.raises(exceptions.PermissionDenied) as caught:
        CanSignWithProfile().has_permission(request, view)
    assert caught.value.get_codes() == "claims_not_allowed"


def test_can_sign_refuses_coercible_input_from_a_constrained_key() -> None:
    constrained = principal(max_expires_in=60)
    request, view = request_for(constrained, {"claims": {}, "expires_in": "6000"})
    with pytest.raises(exceptions.PermissionDenied):
        CanSignWithProfile().has_permission(request, view)
    request, view = request_for(principal(), {"claims": {}, "expires_in": "6000"})
    assert CanSignWithProfile().has_permission(request, view)


def test_can_sign_falls_back_to_the_views_default_lifetime() -> None:
    constrained = principal(max_expires_in=60)
    request, view = request_for(constrained, {"claims": {}})
    view.default_expires_in = 60  # type: ignore[attr-defined]
    assert CanSignWithProfile().has_permission(request, view)
    view.default_expires_in = 3600  # type: ignore[attr-defined]
    with pytest.raises(exceptions.PermissionDenied):
        CanSignWithProfile().has_permission(request, view)
