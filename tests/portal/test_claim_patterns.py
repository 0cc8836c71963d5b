"""portal.claim_patterns: the shapes of catastrophic backtracking are refused, ordinary claim patterns kept."""

from __future__ import annotations

import re

import pytest

from portal.claim_patterns import pattern_risk

NESTED = "it repeats a group that holds a quantifier or an alternation (nested quantifiers)"
BACKREFERENCE = "it holds a backreference"


@pytest.mark.parametrize(
    ("pattern", "risk"),
    [
        ("(a+)+$", NESTED),
        ("(a*)*", NESTED),
        ("(a|a)*b", NESTED),
        ("(?:x*y)*", NESTED),
        ("(?P<part>[a-z]+\\.){2,}com", NESTED),
        ("(?i:a+)+", NESTED),
        ("((a+)b)+", NESTED),
        ("(a+){2,5}", NESTED),
        ("(a)\\1", BACKREFERENCE),
        ("(?P<n>a)(?P=n)", BACKREFERENCE),
        ("(a)?(?(1)b|c)", BACKREFERENCE),
        ("(?x)(a+) +", "it uses verbose mode (the x flag)"),
    ],
)
def test_a_risky_pattern_is_named(pattern: str, risk: str) -> None:
    re.compile(pattern)  # every case is a valid expression: the refusal is about its shape
    assert pattern_risk(pattern) == risk


@pytest.mark.parametrize(
    "pattern",
    [
        "apic",
        "id[0-9]+",
        "(id1|id2)",
        "(a+)?",
        "(a+){1}",
        "(ab)+",
        "^https://[a-z.]+/(v1|v2)$",
        "(?i)apic.*",
        "[(a+)+]",
        "\\(a+\\)+",
        "a{2,5}",
        "(?#a+)apic+",
    ],
)
def test_an_ordinary_pattern_is_kept(pattern: str) -> None:
    """The twins: a group repeated at most once, a quantifier outside a repeated group, brackets that are
    literals (in a class, escaped, in a comment)."""
    re.compile(pattern)
    assert pattern_risk(pattern) is None
