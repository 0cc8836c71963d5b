"""operation-switch: run the case whose operations name the request's operation (by verb and path, or by
operationId), else ``otherwise``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tokens.context import Context
from tokens.documents import Operation
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

KIND = "operation-switch"
PROPERTIES: dict[str, Property] = {"case": Property(), "otherwise": Property()}


@dataclass(frozen=True)
class _Case:
    operations: tuple[tuple[str | None, str | None], ...]  # (verb, path) or (None, operationId)
    policies: tuple[Policy, ...]


class OperationSwitch(Policy):
    kind = KIND

    def __init__(self, title: str, config: dict[str, Any], build: BuildPolicies) -> None:
        super().__init__(title)
        props = Properties(self.kind, title, config, PROPERTIES)
        cases = props.config.get("case")
        if not isinstance(cases, list) or not cases:
            props.fail("case", "must list at least one case")
        self.cases: list[_Case] = []
        for index, case in enumerate(cases):
            where = f"case[{index}]"
            if not isinstance(case, dict) or not isinstance(case.get("operations"), list):
                props.fail(where, "must have an operations list and an execute list")
            operations: list[tuple[str | None, str | None]] = []
            for operation in case["operations"]:
                if isinstance(operation, str):
                    operations.append((None, operation))
                elif (
                    isinstance(operation, dict)
                    and isinstance(operation.get("verb"), str)
                    and isinstance(operation.get("path"), str)
                ):
                    operations.append((operation["verb"].upper(), operation["path"]))
                else:
                    props.fail(f"{where}.operations", f"{operation!r} is neither an operationId nor a verb and path")
            execute = case.get("execute", [])
            if not isinstance(execute, list):
                props.fail(f"{where}.execute", "must be a list of policies")
            self.cases.append(_Case(tuple(operations), build(execute, f"{where}.execute")))
        otherwise = props.config.get("otherwise", [])
        if not isinstance(otherwise, list):
            props.fail("otherwise", "must be a list of policies")
        self.otherwise = build(otherwise, "otherwise")

    def run(self, context: Context) -> None:
        operation: Operation | None = context.get("api.operation")
        for case in self.cases:
            for verb, path in case.operations:
                if operation is None:
                    continue
                if (verb is None and path == operation.operation_id) or (
                    verb == operation.verb and path == operation.path
                ):
                    run_policies(case.policies, context)
                    return
        run_policies(self.otherwise, context)


def case_names(case: dict[str, Any], operation: Operation) -> bool:
    """Whether a case's ``operations`` (as the document holds them) name ``operation``, as ``run`` decides."""
    for named in case.get("operations") or []:
        if isinstance(named, str) and named == operation.operation_id:
            return True
        if isinstance(named, dict) and (str(named.get("verb", "")).upper(), named.get("path")) == (
            operation.verb,
            operation.path,
        ):
            return True
    return False


def _operation_label(operation: Any) -> str:
    if isinstance(operation, dict):
        return f"{str(operation.get('verb', '?')).upper()} {operation.get('path', '?')}"
    return str(operation)


class OperationSwitchKind(PolicyKind):
    def summary(self, config: dict[str, Any]) -> str:
        return f"{len(config.get('case') or [])} case(s)"

    def branches(self, config: dict[str, Any]) -> tuple[Branch, ...]:
        """Each case (by its index among the cases), then ``otherwise``, which is always offered."""
        cases = config.get("case")
        branches = [
            Branch(
                at=f"case/{index}",
                where=f"case[{index}].execute",
                label="Case " + ", ".join(_operation_label(op) for op in case.get("operations") or []),
                holder=case,
                key="execute",
            )
            for index, case in enumerate(cases if isinstance(cases, list) else [])
            if isinstance(case, dict)
        ]
        branches.append(Branch(at="otherwise", where="otherwise", label="Otherwise", holder=config, key="otherwise"))
        return tuple(branches)

    def branches_run_for(self, config: dict[str, Any], operation: Operation) -> tuple[Branch, ...]:
        """The first case naming ``operation``, else ``otherwise``: as the gateway runs it."""
        *cases, otherwise = self.branches(config)
        return (next((case for case in cases if case_names(case.holder, operation)), otherwise),)


def _compile(title: str, config: dict[str, Any], resolver: CryptoResolver, build: BuildPolicies) -> Policy:
    return OperationSwitch(title, config, build)


# Not offered by "Add policy": a new API comes with one, holding a case per operation.
POLICY = OperationSwitchKind(kind=KIND, properties=PROPERTIES, compile=_compile, addable=False)
