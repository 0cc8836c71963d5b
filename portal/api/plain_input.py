"""A serializer's input check for bodies DRF would accept unchanged, without DRF's per-field machinery.

DRF validates a body field by field through ``run_validation``, ``validate_empty_values``, ``get_value``,
``to_internal_value``, ``run_validators`` and ``set_value``: about a hundred Python calls for the token service's
five fields, which costs more than the service's own work around the signature. ``PlainInput`` reads the same
rules off the serializer's fields (types, ranges, lengths, choices, the fields' own validators, defaults) and
answers the validated data in one pass when every value already has exactly the type and form DRF would return
unchanged. For anything else (a number sent as a string, surrounding whitespace, null, a missing required field,
any error) it answers ``None`` and the caller runs the serializer itself, so the answer (a value or a 400 with
``errors`` per field) is always DRF's: tests hold the two together over generated bodies.

Only the field kinds listed here are understood; building a ``PlainInput`` for a serializer with any other
field, a ``validate`` method or serializer-level validators raises ``TypeError``, so a new field cannot slip
past unchecked.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from django.core import validators as django_validators
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import fields, serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

# A JSON integer DRF's IntegerField turns into the same int: it reads ints through str(), which refuses more
# than sys.get_int_max_str_digits() digits; a field without bounds still gets this one.
_PLAIN_INTEGER_LIMIT = 10**18

# Validators whose rule a check below already applies (the others still run, in the field's order).
_COVERED_BY_CHECK: dict[type[fields.Field], tuple[type, ...]] = {
    fields.IntegerField: (django_validators.MinValueValidator, django_validators.MaxValueValidator),
    fields.CharField: (
        django_validators.MaxLengthValidator,
        django_validators.MinLengthValidator,
        django_validators.ProhibitNullCharactersValidator,
        ProhibitSurrogateCharactersValidator,  # the check takes ASCII text only
    ),
}

Check = Callable[[Any], bool]
_NO_DEFAULT = object()


def _integer_check(field: fields.IntegerField) -> Check:
    low = field.min_value if field.min_value is not None else -_PLAIN_INTEGER_LIMIT
    high = field.max_value if field.max_value is not None else _PLAIN_INTEGER_LIMIT
    return lambda value: type(value) is int and low <= value <= high


def _text_check(field: fields.CharField) -> Check:
    # DRF's CharField strips (trim_whitespace), refuses "" unless allow_blank, NUL and surrogates, then checks
    # the lengths: text that is ASCII, has no NUL, and nothing to strip comes out unchanged.
    shortest = max(field.min_length or 0, 0 if field.allow_blank else 1)
    longest = field.max_length

    def check(value: Any) -> bool:
        return (
            type(value) is str
            and shortest <= len(value)
            and (longest is None or len(value) <= longest)
            and value.isascii()
            and "\x00" not in value
            and (not field.trim_whitespace or value == value.strip())
        )

    return check


def _choice_check(field: fields.ChoiceField) -> Check:
    choices = field.choice_strings_to_values
    return lambda value: type(value) is str and value in choices and choices[value] == value


def _object_check(field: fields.DictField) -> Check:
    # A DictField of any values: DRF copies a dict whose keys are already strings (a JSON object's are).
    empty_allowed = field.allow_empty
    return lambda value: type(value) is dict and (empty_allowed or bool(value))


def _field_check(name: str, field: fields.Field) -> Check:
    # The most specific kind first: RegexField is a CharField, BooleanField is not an IntegerField.
    if type(field) is fields.BooleanField:
        return lambda value: type(value) is bool
    if isinstance(field, fields.ChoiceField) and not isinstance(field, fields.MultipleChoiceField):
        return _choice_check(field)
    if isinstance(field, fields.IntegerField):
        return _integer_check(field)
    if isinstance(field, fields.CharField) and not isinstance(
        field, fields.EmailField | fields.URLField | fields.UUIDField | fields.IPAddressField | fields.SlugField
    ):
        return _text_check(field)
    if type(field) is fields.DictField and type(field.child) is fields._UnvalidatedField:
        return _object_check(field)
    raise TypeError(f"PlainInput does not know the field '{name}' ({type(field).__name__}).")


def _remaining_validators(name: str, field: fields.Field) -> list[Callable[..., object]]:
    covered = next((kinds for base, kinds in _COVERED_BY_CHECK.items() if isinstance(field, base)), ())
    remaining: list[Callable[..., object]] = []
    for validator in field.validators:
        if isinstance(validator, covered):
            continue
        if getattr(validator, "requires_context", False):
            raise TypeError(f"PlainInput does not pass the serializer to the validators of '{name}'.")
        remaining.append(validator)
    return remaining


class PlainInput:
    """See the module docstring. ``validated(data)`` is the serializer's validated data, or ``None``."""

    def __init__(self, serializer: serializers.Serializer) -> None:
        if type(serializer).validate is not serializers.Serializer.validate or serializer.validators:
            raise TypeError(f"{type(serializer).__name__} has serializer-level validation PlainInput cannot apply.")
        self._fields: list[tuple[str, bool, Any, Check, list[Callable[..., object]]]] = []
        for name, field in serializer.fields.items():
            if field.read_only or field.source_attrs != [name]:
                raise TypeError(f"PlainInput does not map the field '{name}' (read-only or renamed by source).")
            default = _NO_DEFAULT if field.default is fields.empty else field.default
            if callable(default):
                raise TypeError(f"PlainInput does not call the default of '{name}'.")
            self._fields.append(
                (
                    name,
                    field.required,
                    default,
                    _field_check(name, field),
                    _remaining_validators(name, field),
                )
            )

    def validated(self, data: Any) -> dict[str, Any] | None:
        if type(data) is not dict:
            return None
        result: dict[str, Any] = {}
        for name, required, default, check, validators in self._fields:
            if name not in data:
                if required:
                    return None
                if default is not _NO_DEFAULT:
                    result[name] = default
                continue
            value = data[name]
            if not check(value):
                return None
            for validator in validators:
                try:
                    validator(value)
                except (DjangoValidationError, serializers.ValidationError):
                    return None  # the serializer reports the refusal
            result[name] = dict(value) if type(value) is dict else value
        return result


@cache
def plain_input_for(serializer_class: type[serializers.Serializer]) -> tuple[serializers.Serializer, PlainInput]:
    """One instance of ``serializer_class`` per process (its fields built once) and its ``PlainInput``.

    DRF deep-copies a serializer's declared fields for every instance, which costs more than verifying a
    token; a serializer of plain fields keeps no per-call state in ``run_validation``, so one serves every
    request.
    """
    serializer = serializer_class()
    return serializer, PlainInput(serializer)


def plain_validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """``data`` checked by ``serializer_class``: the validated data, or DRF's ValidationError (a 400 with
    ``errors`` per field), as ``serializer.is_valid(raise_exception=True)`` gives; through the plain check when
    the body is one DRF would accept unchanged."""
    serializer, plain = plain_input_for(serializer_class)
    found = plain.validated(data)
    if found is not None:
        return found
    checked: dict[str, Any] = serializer.run_validation(data)
    return checked
