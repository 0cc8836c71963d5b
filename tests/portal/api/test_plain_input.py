"""portal.api.plain_input: the plain check answers exactly what DRF's serializer answers, or leaves it to DRF."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from portal.api.plain_input import PlainInput, plain_input_for, plain_validated
from tokens.api.token_service import TokenSignApi, TokenValidateApi


class EveryKind(serializers.Serializer):
    """One field of each kind PlainInput knows, with the options that change what DRF accepts."""

    name = serializers.CharField(max_length=8, min_length=2)
    note = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    code = serializers.RegexField(r"^[a-z]+-[0-9]+$", required=False)
    count = serializers.IntegerField(min_value=-3, max_value=40, default=7)
    big = serializers.IntegerField(required=False)
    flag = serializers.BooleanField(default=False)
    mode = serializers.ChoiceField(choices=["fast", "slow", "1"], required=False)
    extra = serializers.DictField(required=False, allow_empty=False)


SERIALIZERS = [EveryKind, TokenSignApi.InputSerializer, TokenValidateApi.InputSerializer]

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False)
    | st.sampled_from(["", " ", "ab", " ab", "ab ", "a\x00b", "fast", "1", "RS256", "ES256", "1.0.0", "x-1", "é"])
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=6,
)


# Per field, values at and around what it accepts, so that most bodies are accepted (or refused by one thing)
# and the comparison bites; the generic values above for the rest.
def _around(*choices: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from(choices)


FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "name": _around("a", "ab", "abcdefgh", "abcdefghi", " ab", "ab\x00"),
    "note": _around("", "x", "y", " x "),
    "code": _around("ab-1", "xy-22", "ab-", "AB-1"),
    "count": st.integers(min_value=-5, max_value=45),
    "big": st.integers(min_value=-(10**19), max_value=10**19),
    "flag": st.booleans(),
    "mode": _around("fast", "slow", "1", "Fast", ""),
    "extra": st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=2),
    "claims": st.dictionaries(st.sampled_from(["iss", "aud", "sub", "exp"]), st.text(max_size=3), max_size=3),
    "expires_in": st.integers(min_value=-1, max_value=3) | st.integers(min_value=31622398, max_value=31622402),
    "alg": _around("RS256", "ES256", "HS512", "PS256", "none", "rs256"),
    "jti": st.booleans(),
    "version": _around("1.0.0", "10.2.33", "1.0", "01.0.0", " 1.0.0"),
    "token": _around("a.b.c", " a.b.c", "Bearer a.b.c", "", "a" * 20000),
    "iss": _around("", "^apic$", "x" * 301, "a\x00"),
    "aud": _around("id1", "(", "é"),
    "leeway": st.integers(min_value=-2, max_value=302),
}


def _bodies(serializer_class: type[serializers.Serializer]) -> st.SearchStrategy[dict[str, Any]]:
    names = [*serializer_class().fields, "unknown"]
    near = {name: FIELD_VALUES.get(name, values) for name in names}
    return st.fixed_dictionaries(
        {}, optional={name: st.one_of(near[name], near[name], near[name], values) for name in names}
    )


def _drf(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any] | None:
    serializer = serializer_class(data=data)
    return dict(serializer.validated_data) if serializer.is_valid() else None


@pytest.mark.parametrize("serializer_class", SERIALIZERS, ids=lambda c: c.__qualname__)
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_the_plain_check_never_disagrees_with_the_serializer(
    serializer_class: type[serializers.Serializer], data: st.DataObject
) -> None:
    body = data.draw(_bodies(serializer_class))
    plain = PlainInput(serializer_class()).validated(body)
    if plain is not None:
        assert plain == _drf(serializer_class, body)


@pytest.mark.parametrize(
    ("serializer_class", "body", "expected"),
    [
        (
            TokenSignApi.InputSerializer,
            {"claims": {"iss": "apic", "aud": "id1"}, "expires_in": 60, "jti": True},
            {"claims": {"iss": "apic", "aud": "id1"}, "expires_in": 60, "jti": True},
        ),
        (
            TokenSignApi.InputSerializer,
            {"claims": {"sub": "alice"}, "alg": "ES256", "version": "1.0.1"},
            {"claims": {"sub": "alice"}, "expires_in": 3600, "jti": False, "alg": "ES256", "version": "1.0.1"},
        ),
        (
            TokenValidateApi.InputSerializer,
            {"token": "a.b.c", "iss": "^apic$"},
            {"token": "a.b.c", "iss": "^apic$", "leeway": 0},
        ),
    ],
)
def test_the_bodies_clients_send_take_the_plain_path(
    serializer_class: type[serializers.Serializer], body: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert PlainInput(serializer_class()).validated(body) == expected
    assert _drf(serializer_class, body) == expected


@pytest.mark.parametrize(
    "body",
    [
        {"claims": {"iss": "apic"}, "expires_in": "60"},  # DRF turns the string into 60
        {"claims": {"iss": "apic"}, "expires_in": 0},  # below the minimum: DRF's error
        {"claims": {"iss": "apic"}, "jti": "true"},
        {"claims": {"iss": "apic"}, "version": "1.0"},  # the field's RegexValidator refuses it
        {"claims": {"iss": "apic"}, "alg": "none"},
        {"claims": None},
        {"expires_in": 60},  # claims is required
    ],
)
def test_what_is_not_plain_is_left_to_the_serializer(body: dict[str, Any]) -> None:
    assert PlainInput(TokenSignApi.InputSerializer()).validated(body) is None


def test_a_twin_of_the_refused_version_is_plain() -> None:
    body = {"claims": {"iss": "apic"}, "version": "1.0.0"}
    assert PlainInput(TokenSignApi.InputSerializer()).validated(body) == {**body, "expires_in": 3600, "jti": False}


def test_plain_validated_answers_drf_errors_per_field() -> None:
    with pytest.raises(serializers.ValidationError) as raised:
        plain_validated(TokenSignApi.InputSerializer, {"claims": [], "expires_in": 0})
    assert set(raised.value.detail) == {"claims", "expires_in"}
    assert plain_validated(TokenSignApi.InputSerializer, {"claims": {}, "expires_in": "9"})["expires_in"] == 9


def test_one_serializer_instance_per_process() -> None:
    assert plain_input_for(TokenSignApi.InputSerializer) is plain_input_for(TokenSignApi.InputSerializer)


class Unknown(serializers.Serializer):
    when = serializers.DateTimeField()


class Checked(serializers.Serializer):
    name = serializers.CharField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return attrs


class Renamed(serializers.Serializer):
    name = serializers.CharField(source="title")


class CalledDefault(serializers.Serializer):
    items = serializers.IntegerField(default=lambda: 1)


@pytest.mark.parametrize("serializer_class", [Unknown, Checked, Renamed, CalledDefault])
def test_a_serializer_it_cannot_mirror_is_refused_when_built(serializer_class: type[serializers.Serializer]) -> None:
    with pytest.raises(TypeError):
        PlainInput(serializer_class())
