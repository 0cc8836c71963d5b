"""set-variable: set, add or clear context variables, typed as API Connect types them."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portal.untrusted import UntrustedTextError, json_loads
from tokens.context import REFERENCE, Context, http_status
from tokens.errors import AssemblyError
from tokens.policies.base import (
    RUNTIME_ERROR,
    VARIABLE_NAME,
    BuildPolicies,
    CryptoResolver,
    Policy,
    PolicyKind,
    Properties,
    Property,
    shown,
)

KIND = "set-variable"
VERBS = ("set", "add", "clear")
TYPES = ("any", "string", "number", "boolean", "object")
PROPERTIES: dict[str, Property] = {"actions": Property(starts_new=True, new_value=[])}


@dataclass(frozen=True)
class _Action:
    verb: str  # set, add, clear
    name: str
    value: Any
    type: str


def action_verb(action: dict[str, Any]) -> str | None:
    """Which of set, add or clear an action does (the first it names); None when it names none."""
    return next((verb for verb in VERBS if verb in action), None)


class SetVariable(Policy):
    kind = KIND

    def __init__(self, title: str, config: dict[str, Any]) -> None:
        super().__init__(title)
        props = Properties(self.kind, title, config, PROPERTIES)
        actions = props.config.get("actions")
        if not isinstance(actions, list) or not actions:
            props.fail("actions", "must be a list of set, add or clear actions")
        self.actions = [self._action(props, index, action) for index, action in enumerate(actions)]

    def _action(self, props: Properties, index: int, action: Any) -> _Action:
        where = f"actions[{index}]"
        if not isinstance(action, dict):
            props.fail(where, "must be a mapping with set, add or clear")
        verbs = [verb for verb in VERBS if verb in action]
        if len(verbs) != 1:
            props.fail(where, "must have exactly one of set, add or clear")
        verb = verbs[0]
        name = action[verb]
        if not isinstance(name, str) or not VARIABLE_NAME.fullmatch(name):
            props.fail(f"{where}.{verb}", f"must be a variable name, not {name!r}")
        value_type = action.get("type", "any") or "any"
        if value_type not in TYPES:
            props.fail(f"{where}.type", f"{value_type!r} is not one of {', '.join(TYPES)}")
        value = action.get("value")
        if verb != "clear" and value is None:
            props.fail(f"{where}.value", "is required for set and add")
        if verb != "clear" and value_type != "any" and not (isinstance(value, str) and "$(" in value):
            value = _coerce(value, value_type, lambda problem: props.fail(f"{where}.value", problem))
        literal = not (isinstance(value, str) and "$(" in value)
        status = http_status(value) if verb != "clear" and name == "message.status.code" and literal else 200
        if status is None or status < 200:
            props.fail(f"{where}.value", f"{value!r} is not a final HTTP status code (a whole number from 200 to 599)")
        return _Action(verb, name, value, value_type)

    def run(self, context: Context) -> None:
        for action in self.actions:
            if action.verb == "clear":
                context.clear(action.name)
                continue
            value = action.value
            if isinstance(value, str) and "$(" in value:
                # An object is built from JSON text: each value goes in as JSON, never as text to be parsed.
                whole = action.type != "object" or REFERENCE.fullmatch(value)
                value = context.interpolate(value) if whole else context.interpolate_json(value)
                if action.type != "any":
                    value = _coerce(value, action.type, self._runtime_failure(action, template=action.value))
            if action.verb == "set":
                context.set(action.name, value)
            else:
                context.add(action.name, value)

    def _runtime_failure(self, action: _Action, *, template: str) -> Callable[[str], Any]:
        # A value read from the request that does not convert is the caller's mistake (400); one read from
        # anything else is the API's (500).
        from_request = "$(request." in template

        def fail(problem: str) -> Any:
            raise AssemblyError(
                RUNTIME_ERROR,
                f"set-variable '{self.title}': {action.name} {problem}.",
                status=400 if from_request else 500,
                reason="Bad Request" if from_request else "",
            )

        return fail


def _is_number(value: Any) -> bool:
    """A JSON number: an int (not a bool) or a finite float; math.isfinite would overflow on a huge int."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


def _coerce(value: Any, value_type: str, fail: Callable[[str], Any]) -> Any:
    if isinstance(value, bytes):
        # $(message.body) alone keeps the request's bytes; read them as text, as $(...) inside text does.
        value = value.decode("utf-8", "replace")
    if value_type == "string":
        # Scalars and objects are written as JSON writes them (true, not True), as $(name) inside text is.
        return value if isinstance(value, str) else json.dumps(value)
    if value_type == "number":
        if _is_number(value):
            return value
        try:
            number = float(str(value))
        except ValueError:
            return fail(f"{value!r} is not a number")
        if not math.isfinite(number):
            return fail(f"{value!r} is not a number JSON can carry")
        return int(number) if number.is_integer() else number
    if value_type == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() in {"true", "false"}:
            return str(value).lower() == "true"
        return fail(f"{value!r} is not true or false")
    if isinstance(value, dict | list):
        return value
    if not isinstance(value, str | bytes):
        return fail(f"{shown(value)} is not a JSON object")
    try:
        return json_loads(value)
    except UntrustedTextError as e:
        return fail(f"{shown(value if isinstance(value, str) else '(bytes)')} is not a JSON object: {e}")


class SetVariableKind(PolicyKind):
    def summary(self, config: dict[str, Any]) -> str:
        actions = config.get("actions")
        parts = []
        for action in actions if isinstance(actions, list) else []:
            if isinstance(action, dict):
                verb = action_verb(action) or "?"
                value = "" if verb == "clear" else f" = {action.get('value')!s}"
                parts.append(f"{verb} {action.get(verb)}{value}")
        return "; ".join(parts) or "no actions yet"


def _compile(title: str, config: dict[str, Any], resolver: CryptoResolver, build: BuildPolicies) -> Policy:
    return SetVariable(title, config)


POLICY = SetVariableKind(kind=KIND, properties=PROPERTIES, compile=_compile)
