"""The conditions of the ``switch`` policy: a small, safe expression language over context variables.

API Connect's API gateway writes ``switch`` conditions in JSONata (``$httpVerb() = 'GET'``,
``request.headers.x-tenant = 'acme' and $exists(request.parameters.id)``); documents written for the
v5-compatible gateway use ``$(name)`` references and JavaScript's operators (``$(request.verb) === 'GET'``).
Both read the same here, where their meaning agrees:

- values: strings in single or double quotes, numbers, ``true``, ``false``, ``null``, lists ``[a, b]``;
- variables: a dotted name (``request.headers.content-type``, with backticks for a segment JSONata would not
  read as a name), or ``$(name)``; a name inside an object variable reads into it (``decoded.claims.sub``); an
  unset variable is ``null`` (JSONata's *undefined*: every comparison with it is false);
- operators: ``=`` ``!=`` ``<`` ``<=`` ``>`` ``>=`` ``in``, ``and`` ``or`` (also ``==``, ``===``, ``!=``,
  ``!==``, ``&&``, ``||``, ``!``), ``&`` (joins text), parentheses;
- functions: ``$httpVerb()``, ``$operationID()``, ``$operationPath()``, ``$exists(x)``, ``$not(x)``,
  ``$string(x)``, ``$number(x)``, ``$boolean(x)``, ``$lowercase(x)``, ``$uppercase(x)``, ``$length(x)``,
  ``$contains(text, part)``, ``$startsWith(text, part)`` / ``$endsWith(text, part)`` (not JSONata's; common
  in v5 documents).

A condition is parsed once, at publish (``condition_compile`` raises ``ConditionError`` naming the place), into
a tree of closures; evaluating it runs no code but these closures, in time linear in its size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from tokens.context import Context

MAX_CONDITION_CHARS = 2000
MAX_NESTING = 32  # parentheses, lists and calls inside one another
Evaluate = Callable[[Context], Any]


class ConditionError(ValueError):
    """A condition that does not parse; ``str()`` says what and where."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      | (?P<reference>\$\([^()\s]+\))
      | (?P<function>\$[A-Za-z]+(?=\s*\())
      | (?P<operator>===|!==|==|!=|<=|>=|&&|\|\||[=<>&!()\[\],])
      | (?P<name>(?:[A-Za-z_][A-Za-z0-9_\-]*|`[^`]+`)(?:\.(?:[A-Za-z0-9_][A-Za-z0-9_\-]*|`[^`]+`))*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and": "and", "or": "or", "in": "in", "true": True, "false": False, "null": None}
_SYMBOLS = {"&&": "and", "||": "or", "==": "=", "===": "=", "!==": "!="}


def _tokens(text: str) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            position += len(text[position:]) - len(text[position:].lstrip())
            raise ConditionError(f"cannot read the condition at character {position + 1}: {text[position:][:20]!r}")
        position = match.end()
        kind = match.lastgroup
        value = match.group(kind or "")
        if kind == "string":
            found.append(("value", _string(value)))
        elif kind == "number":
            found.append(("value", json.loads(value)))
        elif kind == "reference":
            found.append(("variable", value[2:-1]))
        elif kind == "function":
            found.append(("function", value[1:]))
        elif kind == "operator":
            found.append(("op", _SYMBOLS.get(value, value)))
        elif value in _KEYWORDS:
            keyword = _KEYWORDS[value]
            found.append(("op", keyword) if isinstance(keyword, str) else ("value", keyword))
        else:
            found.append(("variable", ".".join(part.strip("`") for part in re.findall(r"`[^`]+`|[^.]+", value))))
    return found


def _string(quoted: str) -> str:
    body = quoted[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def read_variable(context: Context, name: str) -> Any:
    """A variable by name; a name inside an object variable reads into it (``decoded.claims.sub``)."""
    value = context.get(name)
    if value is not None:
        return value
    cut = name.rfind(".")
    while cut > 0:
        head = context.get(name[:cut])
        if head is not None:
            for part in name[cut + 1 :].split("."):
                if isinstance(head, dict):
                    head = head.get(part)
                elif isinstance(head, list) and part.isdigit() and int(part) < len(head):
                    head = head[int(part)]
                else:
                    return None
            return head
        cut = name.rfind(".", 0, cut)
    return None


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value
    try:
        number = float(str(value))
    except ValueError:
        return None
    return int(number) if number.is_integer() else number


def _truthy(value: Any) -> bool:
    # JSONata's $boolean: empty strings, zero, null, empty lists and objects are false.
    return bool(value) if not isinstance(value, list) else any(_truthy(item) for item in value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        if op not in ("=", "!="):
            return False
        return (left is None and right is None) == (op == "=")
    if op in ("=", "!="):
        if isinstance(left, bytes):
            left = left.decode("utf-8", "replace")
        equal = left == right and isinstance(left, bool) == isinstance(right, bool)
        return equal if op == "=" else not equal
    if op == "in":
        return isinstance(right, list) and left in right
    both_numbers = _number(left) is not None and _number(right) is not None and not isinstance(left, str)
    if isinstance(left, str) and isinstance(right, str):
        pair: tuple[Any, Any] = (left, right)
    elif both_numbers or (not isinstance(left, str) and not isinstance(right, str)):
        pair = (_number(left), _number(right))
        if None in pair:
            return False
    else:
        return False
    a, b = pair
    return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])


def _call(name: str, args: list[Evaluate]) -> Evaluate:
    arity = {
        "httpVerb": 0, "operationID": 0, "operationPath": 0, "exists": 1, "not": 1, "string": 1, "number": 1,
        "boolean": 1, "lowercase": 1, "uppercase": 1, "length": 1, "contains": 2, "startsWith": 2, "endsWith": 2,
    }  # fmt: skip
    if name not in arity:
        raise ConditionError(f"${name}() is not a function conditions can call (see the portal's README)")
    if len(args) != arity[name]:
        raise ConditionError(f"${name}() takes {arity[name]} argument(s), not {len(args)}")
    if name == "httpVerb":
        return lambda c: c.get("request.verb")
    if name == "operationID":
        return lambda c: c.get("api.operation.id")
    if name == "operationPath":
        return lambda c: c.get("api.operation.path")
    if name in ("contains", "startsWith", "endsWith"):
        first, second = args
        tests: dict[str, Callable[[str, str], bool]] = {
            "contains": lambda text, part: part in text,
            "startsWith": lambda text, part: text.startswith(part),
            "endsWith": lambda text, part: text.endswith(part),
        }
        test = tests[name]
        return lambda c: test(_text(first(c)), _text(second(c)))
    (only,) = args
    unary: dict[str, Callable[[Any], Any]] = {
        "exists": lambda v: v is not None,
        "not": lambda v: not _truthy(v),
        "string": _text,
        "number": _number,
        "boolean": _truthy,
        "lowercase": lambda v: _text(v).lower(),
        "uppercase": lambda v: _text(v).upper(),
        "length": lambda v: len(_text(v)),
    }
    function = unary[name]
    return lambda c: function(only(c))


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]]) -> None:
        self.tokens = tokens
        self.at = 0
        self.depth = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take_op(self, *ops: str) -> str | None:
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] in ops:
            self.at += 1
            return str(token[1])
        return None

    def expect(self, op: str) -> None:
        if self.take_op(op) is None:
            token = self.peek()
            raise ConditionError(f"expected '{op}' but found {'the end' if token is None else repr(token[1])}")

    def parse(self) -> Evaluate:
        tree = self.disjunction()
        if self.peek() is not None:
            raise ConditionError(f"unexpected {self.peek()[1]!r} after a complete condition")  # type: ignore[index]
        return tree

    def disjunction(self) -> Evaluate:
        left = self.conjunction()
        while self.take_op("or"):
            right = self.conjunction()
            left = (lambda a, b: lambda c: _truthy(a(c)) or _truthy(b(c)))(left, right)
        return left

    def conjunction(self) -> Evaluate:
        left = self.comparison()
        while self.take_op("and"):
            right = self.comparison()
            left = (lambda a, b: lambda c: _truthy(a(c)) and _truthy(b(c)))(left, right)
        return left

    def comparison(self) -> Evaluate:
        left = self.concatenation()
        op = self.take_op("=", "!=", "<", "<=", ">", ">=", "in")
        if op is None:
            return left
        right = self.concatenation()
        return lambda c: _compare(op, left(c), right(c))

    def concatenation(self) -> Evaluate:
        left = self.unary()
        while self.take_op("&"):
            right = self.unary()
            left = (lambda a, b: lambda c: _text(a(c)) + _text(b(c)))(left, right)
        return left

    def unary(self) -> Evaluate:
        if self.take_op("!"):
            inner = self.primary()
            return lambda c: not _truthy(inner(c))
        return self.primary()

    def primary(self) -> Evaluate:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ConditionError(f"the condition nests more than {MAX_NESTING} levels deep")
        try:
            return self._primary()
        finally:
            self.depth -= 1

    def _primary(self) -> Evaluate:
        token = self.peek()
        if token is None:
            raise ConditionError("the condition ends where a value is expected")
        kind, value = token
        self.at += 1
        if kind == "value":
            return lambda c: value
        if kind == "variable":
            return lambda c: read_variable(c, value)
        if kind == "function":
            self.expect("(")
            args: list[Evaluate] = []
            if not self.take_op(")"):
                args.append(self.disjunction())
                while self.take_op(","):
                    args.append(self.disjunction())
                self.expect(")")
            return _call(value, args)
        if value == "(":
            inner = self.disjunction()
            self.expect(")")
            return inner
        if value == "[":
            items: list[Evaluate] = []
            if not self.take_op("]"):
                items.append(self.disjunction())
                while self.take_op(","):
                    items.append(self.disjunction())
                self.expect("]")
            return lambda c: [item(c) for item in items]
        raise ConditionError(f"unexpected {value!r} where a value is expected")


def condition_compile(text: str) -> Evaluate:
    """The condition as a function of a context answering a JSON-like value (read as true or false by
    ``condition_holds``). Raises ConditionError saying what does not parse."""
    if not text.strip():
        raise ConditionError("the condition is empty")
    if len(text) > MAX_CONDITION_CHARS:
        raise ConditionError(f"the condition is longer than {MAX_CONDITION_CHARS} characters")
    return _Parser(_tokens(text)).parse()


def condition_holds(condition: Evaluate, context: Context) -> bool:
    return _truthy(condition(context))
