"""What every call of one publication starts with: the API's own variables and its properties (DESIGN.md 3a).

``ApiScope`` is built when a publication is compiled (``tokens.properties.api_scope`` reads the values) and
kept by its ``CompiledAssembly``:

- at compile time, each ``$(name)`` of an API property is written into every string property of every policy
  (a gatewayscript's ``source`` apart: that is JavaScript, not a template): a constant's value, so a
  ``jws-crypto``, ``iss-claim`` or ``target-url`` read from a property is checked at publish like a literal; the
  text of a value that reads variables (``https://$(request.parameters.region).example.com``), so the policy
  reads those per call by its own rules (``invoke`` percent-encodes a request parameter where it lands in the
  URL, whether written in ``target-url`` or in a property it reads);
- at the start of each call, ``ApiScope.enter`` puts ``api.name``, ``api.version``, ``api.catalog.name``,
  ``api.org.name``, ``api.root`` (the base path), ``api.type`` (``REST``), ``plan.name`` and the properties in
  the context, in one dict update, and ``client.app.id`` / ``client.app.name`` when the gateway admitted the
  call for an app (``Context.client_app``: set only when the API checks client ids, as in API Connect); a
  property whose value itself reads a variable (``$(request.parameters.region)``) is read per call, as API
  Connect reads it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from tokens.activity import ActivityLogSettings
from tokens.context import REFERENCE, Context
from tokens.errors import PublishError

# API Connect publishes an API alone through a generated product whose plan is "default-plan"; the portal has
# no products, so every call runs under that plan.
DEFAULT_PLAN = "default-plan"
MAX_EXPANSION_CHARS = 1024 * 1024  # what property values may add to an API's policies: as much as a document
NOT_TEMPLATES = frozenset({"source"})  # properties never substituted: gatewayscript's JavaScript


@dataclass(frozen=True)
class ApiScope:
    """The variables every call of one publication starts with; see the module docstring."""

    api_name: str
    api_version: str
    catalog: str
    organization: str
    properties: Mapping[str, Any] = field(default_factory=dict)
    activity: ActivityLogSettings | None = None  # None: the document sets no activity-log
    base_path: str = "/"  # api.root
    _variables: dict[str, Any] = field(init=False, repr=False, compare=False)
    _templated: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        variables = {
            "api.name": self.api_name,
            "api.version": self.api_version,
            "api.catalog.name": self.catalog,
            "api.org.name": self.organization,
            "api.root": self.base_path,
            "api.type": "REST",
            "plan.name": DEFAULT_PLAN,
        }
        plain = {name: value for name, value in self.properties.items() if not _templated(value)}
        object.__setattr__(self, "_variables", {**plain, **variables})
        object.__setattr__(
            self, "_templated", tuple(name for name, value in self.properties.items() if _templated(value))
        )

    def compile_key(self, referenced: Collection[str] | None = None) -> str:
        """What of the scope a compiled assembly depends on (the property values written into it), as text:
        publications whose assembly and compile key are equal can share one compiled assembly (each with its
        own scope: ``CompiledAssembly.in_scope``). ``referenced``: the names the assembly reads
        (``references``); properties it never reads then do not tell publications apart."""
        written = {name: value for name, value in self.properties.items() if referenced is None or name in referenced}
        return json.dumps(written, sort_keys=True, default=str)

    def enter(self, context: Context) -> None:
        """Put the API's variables and properties in a new call's context (before its first policy runs)."""
        context.variables.update(self._variables)
        app = context.client_app
        if app is not None:
            context.variables["client.app.id"] = app.client_id
            context.variables["client.app.name"] = app.name
        for name in self._templated:
            context.variables[name] = context.interpolate(self.properties[name])

    def substituted(self, config: Any, budget: list[int] | None = None) -> Any:
        """``config`` with each ``$(property)`` replaced by the property's value (a whole-string reference keeps
        the value's type), which the policy reads per call where it reads variables in turn; references to other
        variables are left for the policy to read per call. A part with nothing to replace is returned as it is,
        not copied (compiling 5,000 APIs walks every part). Raises PublishError when the values would add more
        than ``MAX_EXPANSION_CHARS`` to the policies (a 100 KB value read 10,000 times would be a gigabyte)."""
        budget = [MAX_EXPANSION_CHARS] if budget is None else budget
        if isinstance(config, dict):
            changed = {}
            for key, value in config.items():
                if key not in NOT_TEMPLATES:
                    new = self._part(value, budget)
                    if new is not value:
                        changed[key] = new
            return {**config, **changed} if changed else config
        if isinstance(config, list):
            items = [self._part(item, budget) for item in config]
            return items if any(new is not old for new, old in zip(items, config, strict=True)) else config
        return self._part(config, budget)

    def _part(self, value: Any, budget: list[int]) -> Any:
        if isinstance(value, str):
            return self._substituted_text(value, budget) if "$(" in value else value
        return self.substituted(value, budget) if isinstance(value, dict | list) else value

    def _substituted_text(self, text: str, budget: list[int]) -> Any:
        properties = self.properties
        whole = REFERENCE.fullmatch(text)
        if whole and whole.group(1) in properties:
            value = properties[whole.group(1)]
            _spend(budget, len(value) if isinstance(value, str) else len(json.dumps(value, default=str)))
            return value

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in properties:
                value = properties[name]
                written = value if isinstance(value, str) else str(value)
                _spend(budget, len(written))
                return written
            return match.group(0)

        replaced = REFERENCE.sub(replace, text)
        return text if replaced == text else replaced


def _spend(budget: list[int], chars: int) -> None:
    budget[0] -= chars
    if budget[0] < 0:
        raise PublishError(
            f"The API's property values would add more than {MAX_EXPANSION_CHARS} characters to its policies "
            "(a large value read in many places): read it once into a variable with set-variable, or shorten it."
        )


def references(text: str) -> frozenset[str]:
    """Every name ``text`` reads as ``$(name)`` (an assembly as JSON text, say): a superset of the properties
    substituted into its policies, since a script's source is searched too."""
    return frozenset(REFERENCE.findall(text))


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "$(" in value
