"""The ``switch`` policy: the first case whose condition holds runs, else ``otherwise`` (APIC's switch).

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

from collections.abc import Callable
from typing import Any

from tokens.assembly import Policy, _Properties, run_policies
from tokens.conditions import ConditionError, Evaluate, condition_compile, condition_holds
from tokens.context import Context

BuildPolicies = Callable[[Any, str], tuple[Policy, ...]]


class Switch(Policy):
    kind = "switch"

    def __init__(self, title: str, config: dict[str, Any], build: BuildPolicies) -> None:
        super().__init__(title)
        props = _Properties(self.kind, title, config, {"case", "otherwise"})
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
