"""switch: the first case whose condition holds runs, else ``otherwise`` (APIC's switch).

```yaml
- switch:
    title: by tenant
    case:
      - condition: request.headers.x-tenant = 'acme'
        execute: [...]
      - condition: $httpVerb() = 'POST' and $exists(request.parameters.id)
        execute: [...]
      - otherwise: [...]
```

Conditions are read by ``tokens.conditions`` (JSONata as the API gateway writes them, or the v5-compatible
gateway's ``$(name)`` and JavaScript operators), parsed once at publish.
"""

from __future__ import annotations

from typing import Any

from tokens.conditions import ConditionError, Evaluate, condition_compile, condition_holds
from tokens.context import Context
from tokens.policies.base import (
    Branch,
    BuildPolicies,
    CryptoResolver,
    Policy,
    PolicyKind,
    Properties,
    Property,
    run_policies,
)

KIND = "switch"
PROPERTIES: dict[str, Property] = {
    "case": Property(starts_new=True, new_value=[{"condition": "$httpVerb() = 'GET'", "execute": []}]),
    "otherwise": Property(),  # the v5-compatible gateway's place for it; the API gateway's is the last case
}


class Switch(Policy):
    kind = KIND

    def __init__(self, title: str, config: dict[str, Any], build: BuildPolicies) -> None:
        super().__init__(title)
        props = Properties(self.kind, title, config, PROPERTIES)
        cases = props.config.get("case")
        if not isinstance(cases, list) or not cases:
            props.fail("case", "must list at least one case with a condition and an execute list")
        self.cases: list[tuple[Evaluate, tuple[Policy, ...]]] = []
        otherwise: tuple[Policy, ...] = ()
        for index, case in enumerate(cases):
            where = f"case[{index}]"
            if isinstance(case, dict) and set(case) == {"otherwise"}:
                if index != len(cases) - 1:
                    props.fail(where, "otherwise must be the last case")
                otherwise = build(case["otherwise"], f"{where}.otherwise")
                continue
            if not isinstance(case, dict) or not isinstance(case.get("condition"), str):
                props.fail(where, "must have a condition (text) and an execute list, or be otherwise")
            try:
                condition = condition_compile(case["condition"])
            except ConditionError as e:
                props.fail(f"{where}.condition", f"{e} (in {case['condition']!r})")
            self.cases.append((condition, build(case.get("execute", []), f"{where}.execute")))
        if "otherwise" in props.config:  # the v5-compatible gateway's place for it
            otherwise = build(props.config["otherwise"], "otherwise")
        self.otherwise = otherwise

    def run(self, context: Context) -> None:
        for condition, policies in self.cases:
            if condition_holds(condition, context):
                run_policies(policies, context)
                return
        run_policies(self.otherwise, context)


class SwitchKind(PolicyKind):
    def summary(self, config: dict[str, Any]) -> str:
        cases = config.get("case")
        conditions = [c for c in cases if isinstance(c, dict) and "condition" in c] if isinstance(cases, list) else []
        return f"{len(conditions)} condition(s)"

    def branches(self, config: dict[str, Any]) -> tuple[Branch, ...]:
        """Each case in document order (its ``otherwise`` too), then a top-level ``otherwise`` if present."""
        cases = config.get("case")
        branches: list[Branch] = []
        for index, case in enumerate(cases if isinstance(cases, list) else []):
            if not isinstance(case, dict):
                continue
            if "otherwise" in case and "condition" not in case:
                branches.append(
                    Branch(
                        at=f"case/{index}",
                        where=f"case[{index}].otherwise",
                        label="Otherwise",
                        holder=case,
                        key="otherwise",
                    )
                )
            else:
                label = f"When {case.get('condition', '?')}"
                branches.append(
                    Branch(at=f"case/{index}", where=f"case[{index}].execute", label=label, holder=case, key="execute")
                )
        if "otherwise" in config:
            branches.append(
                Branch(at="otherwise", where="otherwise", label="Otherwise", holder=config, key="otherwise")
            )
        return tuple(branches)


def _compile(title: str, config: dict[str, Any], resolver: CryptoResolver, build: BuildPolicies) -> Policy:
    return Switch(title, config, build)


POLICY = SwitchKind(kind=KIND, properties=PROPERTIES, compile=_compile)
