"""What every policy kind builds on: the policy class, typed property access, the kind's description
(``PolicyKind``), the branches a policy holds, and how policies find keys (``CryptoResolver``)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from tokens import jose
from tokens.context import Context
from tokens.errors import PolicyConfigError

if TYPE_CHECKING:
    from tokens.documents import Operation

RUNTIME_ERROR = "RuntimeError"
BAD_REQUEST_ERROR = "BadRequestError"  # APIC's name for an error the caller's request causes
# Properties API Connect writes on every policy; no policy reads them but the title.
COMMON_PROPERTIES = frozenset({"version", "title", "description"})
POLICY_VERSION = "2.0.0"  # what API Connect v10 writes for these policies
VARIABLE_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


# -- keys ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningMaterial:
    key: jose.JwsKey
    kid: str


@dataclass(frozen=True)
class EncryptionMaterial:
    """A JWE key from a crypto object, and the kid naming it in the JWE header."""

    key: jose.JweKey
    kid: str


@dataclass(frozen=True)
class DecryptionMaterial:
    """The keys a JWE is decrypted with, tried in order: the named crypto object's first, then the other
    non-retired versions of its profile (tokens encrypted on either side of a rotation decrypt)."""

    keys: tuple[jose.JweKey, ...]


@dataclass(frozen=True)
class VerificationMaterial:
    """The keys a validation accepts, and the kids of retired versions (which verify nothing, but are named
    in the failure message so an operator knows why an old token fails)."""

    keys: tuple[jose.JwsKey, ...]
    retired: dict[str, str]  # kid -> "<profile> <version>"


class CryptoResolver(Protocol):
    """How policies find keys: crypto objects by name within the publication's catalog."""

    def signing(self, name: str) -> SigningMaterial:
        """The key a ``-key`` crypto object signs with. Raises LookupError with a readable message."""

    def verifying(self, name: str) -> VerificationMaterial:
        """The keys a crypto object verifies with. Raises LookupError with a readable message."""

    def encrypting(self, name: str) -> EncryptionMaterial:
        """The key to encrypt tokens to: a certificate's or key's public key, or a secret. Raises LookupError."""

    def decrypting(self, name: str) -> DecryptionMaterial:
        """The keys to decrypt tokens with: private keys or secrets (a '-key' object and the other non-retired
        versions of its profile). Raises LookupError."""

    def signing_algorithm_use(self, name: str, alg: str) -> None:
        """Note that a policy signs with ``alg`` using crypto object ``name`` (one key, one algorithm).

        Raises LookupError naming both algorithms when the key is already fixed to another one.
        """


class TokenRecorder(Protocol):
    """What a call's tokens are counted by (the gateway's metrics, ``tokens.metrics``), told by the policies that
    know the outcome: jwt-generate when it mints or fails to, jwt-validate when it accepts or refuses a token.
    A context outside the gateway counts nothing (``Context.recorder``)."""

    def minted(self, ok: bool) -> None:
        """jwt-generate minted a token (``ok``) or raised instead."""

    def validated(self, ok: bool, reason: str = "") -> None:
        """jwt-validate accepted a token (``ok``), or refused it for ``reason`` (``JwtValidationFailed.code``)."""


def lookup_message(error: LookupError) -> str:
    """A resolver's refusal as a sentence (str() of a KeyError would quote it)."""
    return str(error.args[0]) if error.args else str(error)


# -- policies -----------------------------------------------------------------------------------------------


class Policy:
    """A compiled policy: built once from its configuration (the constructor is the compile step, raising
    PolicyConfigError), then ``run`` per request against a context (raising AssemblyError)."""

    kind = ""

    def __init__(self, title: str) -> None:
        self.title = title

    def run(self, context: Context) -> None:
        raise NotImplementedError


def run_policies(policies: Collection[Policy], context: Context) -> None:
    for policy in policies:
        policy.run(context)


# The compile step's way to build a list of policies nested in a policy (operation-switch cases): the list
# and where it is ("case[0].execute"), for messages. Raises PublishError or PolicyConfigError.
BuildPolicies = Callable[[Any, str], tuple[Policy, ...]]


@dataclass(frozen=True)
class Property:
    """One property of a policy kind, by its APIC name: the single place its defaults are written."""

    # The value the policy runs with when the property is absent or empty (None: none, or required).
    default: Any = None
    # Whether a policy added in the console's editor starts with the property written, and with what value
    # (valid where a default is obvious, so the first publish names only what the operator still has to choose).
    starts_new: bool = False
    new_value: Any = None


class Properties:
    """Typed access to a policy's configuration, failing with the policy title and property name.

    Absent and empty properties read as their schema default; a property the schema does not name is
    refused (COMMON_PROPERTIES apart).
    """

    def __init__(
        self, kind: str, title: str, config: dict[str, Any], schema: Mapping[str, Property] | Collection[str]
    ) -> None:
        self.kind = kind
        self.title = title
        self.defaults = {name: p.default for name, p in schema.items()} if isinstance(schema, Mapping) else {}
        self.config = {k: v for k, v in config.items() if v is not None and v != ""}
        unknown = set(self.config) - set(schema) - COMMON_PROPERTIES
        if unknown:
            name = sorted(unknown)[0]
            self.fail(name, f"'{name}' is not a property the portal supports for {kind}")

    def fail(self, prop: str, problem: str) -> NoReturn:
        raise PolicyConfigError(
            f"{self.kind} policy '{self.title}', property '{prop}': {problem}.", policy=self.title, prop=prop
        )

    def value(self, prop: str, default: Any = None) -> Any:
        """The property as configured, else ``default``, else the schema's default."""
        return self.config.get(prop, self.defaults.get(prop) if default is None else default)

    def string(self, prop: str, default: str | None = None) -> str | None:
        value = self.value(prop, default)
        if value is not None and not isinstance(value, str):
            self.fail(prop, f"must be a string, not {value!r}")
        return value

    def variable(self, prop: str, default: str | None = None) -> str | None:
        value = self.string(prop, default)
        if value is not None and not VARIABLE_NAME.fullmatch(value):
            self.fail(prop, f"must be a variable name such as request.headers.iss-claim, not {value!r}")
        return value

    def integer(self, prop: str, low: int, high: int) -> int:
        value = self.value(prop)
        # ASCII digits only, and few: str.isdigit() also accepts '²', and int() refuses over 4300 digits.
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value.strip()):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            self.fail(prop, f"must be a whole number from {low} to {high}, not {value!r}")
        return value

    def boolean(self, prop: str) -> bool:
        value = self.value(prop)
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            value = value.lower() == "true"
        if not isinstance(value, bool):
            self.fail(prop, f"must be true or false, not {value!r}")
        return value

    def pattern(self, prop: str) -> re.Pattern[str] | None:
        value = self.string(prop)
        if value is None:
            return None
        try:
            return re.compile(value)
        except re.error as e:
            self.fail(prop, f"is not a valid regular expression ({e})")

    def algorithm(self, prop: str) -> str:
        value = self.string(prop)
        if value is None:
            self.fail(prop, f"is required; choose one of {', '.join(jose.ALGORITHMS)}")
        if value not in jose.ALGORITHMS:
            self.fail(prop, f"{value!r} is not supported; choose one of {', '.join(jose.ALGORITHMS)}")
        return value

    def key_source(self) -> tuple[str | None, str | None]:
        """The crypto object name or the JWK variable; with both, the crypto object wins, as in API Connect."""
        crypto, jwk = self.string("jws-crypto"), self.variable("jws-jwk")
        if crypto:
            return crypto, None
        if not jwk:
            self.fail("jws-crypto", "name a crypto object (or set jws-jwk to a variable holding a JWK)")
        return crypto, jwk


def shown(value: Any) -> str:
    """A value for a message: JSON, cut at 80 characters; "(absent)" for None."""
    if value is None:
        return "(absent)"
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- what the portal knows of a kind ------------------------------------------------------------------------


@dataclass(frozen=True)
class Branch:
    """A list of policies a policy (or the assembly) holds: an operation-switch case, its ``otherwise``, a catch.

    ``holder[key]`` is the list in the document itself, so an editor can change it in place.
    """

    at: str  # editor address below the holder's: "case/0", "otherwise" (or "execute", "catch/0")
    where: str  # the same in messages: "case[0].execute", "otherwise" (or "execute", "catch[0].default")
    label: str  # what the console shows: "Case GET /generate", "Otherwise", "Catch RuntimeError"
    holder: dict[str, Any]
    key: str

    def policies(self) -> list[Any]:
        """The list as it stands; empty when absent or not a list."""
        policies = self.holder.get(self.key)
        return policies if isinstance(policies, list) else []


@dataclass(frozen=True)
class PolicyKind:
    """One policy kind: its property schema and the hooks the console, the Postman export, rotation and the
    walker read. A policy module makes one (usually of a subclass overriding the hooks it needs) and the
    registry lists it."""

    kind: str
    properties: Mapping[str, Property]
    # Compiles one configuration: (title, properties, resolver, build) -> the policy. Raises PolicyConfigError.
    compile: Callable[[str, dict[str, Any], CryptoResolver, BuildPolicies], Policy]
    addable: bool = True  # the editor's "Add policy" offers it (operation-switch comes with a new API)
    makes_token: bool = False  # a token it makes goes to the Authorization response header by default
    crypto_properties: tuple[str, ...] = ()  # properties naming crypto objects that rotation renames

    def new_properties(self) -> dict[str, Any]:
        """What a policy added in the editor starts with (a fresh copy)."""
        return {name: copy.deepcopy(p.new_value) for name, p in self.properties.items() if p.starts_new}

    def default(self, prop: str) -> Any:
        return self.properties[prop].default

    def summary(self, config: dict[str, Any]) -> str:
        """One line for the console's outline of the assembly."""
        return ""

    def assembly_refusal(self, configs: Sequence[dict[str, Any]]) -> str | None:
        """Why an assembly holding these policies of this kind (their properties: every one at any depth,
        catches included) cannot be published, asked before anything is compiled; None when it can."""
        return None

    def branches(self, config: dict[str, Any]) -> tuple[Branch, ...]:
        """The lists of policies this policy holds, in document order."""
        return ()

    def branches_run_for(self, config: dict[str, Any], operation: Operation) -> tuple[Branch, ...]:
        """The branches that may run for ``operation`` (all of them unless the kind routes by operation)."""
        return self.branches(config)

    def claim_variables(self, config: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        """(claim, variable) of the claims a token it makes reads from the context: iss, sub, aud."""
        return ()

    def token_variable(self, config: dict[str, Any]) -> str | None:
        """The variable holding the token it checks; None when it checks none."""
        return None

    def claim_patterns(self, config: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        """(claim, pattern) of the claim checks it makes on a token."""
        return ()

    def signs_with(self, config: dict[str, Any]) -> tuple[str, int] | None:
        """(crypto object, validity seconds) when it signs tokens with a crypto object; None otherwise."""
        return None

    def token_validity(self, config: dict[str, Any]) -> int | None:
        """The validity seconds of the tokens it makes, however it signs them (a crypto object or a JWK);
        None when it makes none."""
        return None
