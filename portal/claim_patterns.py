"""A conservative syntax check that refuses claim patterns able to backtrack catastrophically.

Callers of the token service send ``iss``/``aud`` regular expressions, and Python's ``re`` backtracks: ``(a+)+$``
against forty ``a`` and a ``b`` takes longer than a worker may be pinned. Bounding the time a match takes
would need another regex engine, so the patterns are refused before matching instead, by their text:

* a repeated group (``*``, ``+``, ``{n,}``, ``{n,m}`` with m > 1) that holds a quantifier or an alternation
  (``(a+)+``, ``(a|a)*``, ``(?:x*y)*``): the nested quantifier shape behind exponential backtracking;
* a backreference (``\\1``, ``(?P=name)``) or a conditional (``(?(1)a|b)``), which make matching NP-hard;
* verbose mode (``(?x)``), whose whitespace and comments this reading does not follow.

The check is conservative: it refuses some harmless patterns (``(ab|cd)+``, ``([a-z]+\\.)+``; write them
without the repeated group). It does not bound polynomial backtracking (``.*.*.*x``), whose cost the token
size cap (8 KiB) bounds only loosely.
"""

from __future__ import annotations

import re

# A repetition in braces; anything else in braces is a literal to ``re``.
_BRACES = re.compile(r"\{(\d*)(,?)(\d*)\}")


def pattern_risk(pattern: str) -> str | None:
    """Why ``pattern`` may backtrack catastrophically, as a clause ("it repeats a group that ..."), or None.

    Raises re.error when ``pattern`` is not a regular expression.
    """
    if re.compile(pattern).flags & re.VERBOSE:
        # Whitespace and comments would hide a quantifier from this reading: "(a+) +" is "(a+)+".
        return "it uses verbose mode (the x flag)"
    # One entry per open group: whether it holds a quantifier or an alternation so far.
    groups: list[bool] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            following = pattern[i + 1 : i + 2]
            if following.isdigit() and following != "0":
                return "it holds a backreference"
            i += 2
        elif char == "[":
            i = _class_end(pattern, i)
        elif char == "(":
            if pattern.startswith(("(?P=", "(?("), i):
                return "it holds a backreference"
            i, opens = _group_start(pattern, i)
            if opens:
                groups.append(False)
        elif char == ")":
            inner = groups.pop() if groups else False
            i += 1
            repeats, length = _quantifier_at(pattern, i)
            if repeats and inner:
                return "it repeats a group that holds a quantifier or an alternation (nested quantifiers)"
            if groups:
                groups[-1] = groups[-1] or inner or length > 0
            i += length
        elif char == "|":
            if groups:
                groups[-1] = True
            i += 1
        else:
            _, length = _quantifier_at(pattern, i)
            if length and groups:
                groups[-1] = True
            i += max(length, 1)
    return None


def _quantifier_at(pattern: str, i: int) -> tuple[bool, int]:
    """Whether a quantifier starts at ``i`` that repeats (more than once), and its length (0: none there)."""
    char = pattern[i : i + 1]
    if char in ("*", "+", "?"):
        length = 2 if pattern[i + 1 : i + 2] in ("?", "+") else 1  # lazy or possessive form
        return char != "?", length
    if char == "{":
        braces = _BRACES.match(pattern, i)
        if braces is None:
            return False, 0
        low, comma, high = braces.groups()
        repeats = bool(comma and not high) or int(high or low or "0") > 1
        end = braces.end()
        return repeats, end - i + (1 if pattern[end : end + 1] in ("?", "+") else 0)
    return False, 0


def _class_end(pattern: str, i: int) -> int:
    """The index after the character class that opens at ``i`` (a ``]`` first in the class is literal)."""
    j = i + 1
    if pattern[j : j + 1] == "^":
        j += 1
    if pattern[j : j + 1] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def _group_start(pattern: str, i: int) -> tuple[int, bool]:
    """The index after the opening of the group at ``i``, and whether it opens a group (``(?i)`` does not)."""
    if pattern[i + 1 : i + 2] != "?":
        return i + 1, True
    if pattern.startswith("(?#", i):
        end = pattern.find(")", i)
        return (len(pattern) if end < 0 else end + 1), False
    if pattern.startswith("(?P<", i):
        end = pattern.find(">", i)
        return (len(pattern) if end < 0 else end + 1), True
    if pattern.startswith(("(?<=", "(?<!"), i):
        return i + 4, True
    if pattern.startswith(("(?:", "(?=", "(?!", "(?>"), i):
        return i + 3, True
    # Inline flags: (?aiLmsux) for the whole pattern, or (?aiLmsux-imsx:...) for a group.
    j = i + 2
    while j < len(pattern) and (pattern[j].isalpha() or pattern[j] == "-"):
        j += 1
    return j + 1, pattern[j : j + 1] == ":"
