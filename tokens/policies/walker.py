"""The one walk over an assembly: every policy at any depth (operation-switch cases and ``otherwise``,
catches), or only those that run for one operation. Publish validation, the console's editor and test page,
the Postman export and rotation read assemblies through it, so they agree on what an assembly holds.

The walk reads the document as it is: entries that are not one policy, and branches that are not lists,
are passed over (publishing names them); it changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tokens.documents import Operation
from tokens.policies.base import Branch
from tokens.policies.registry import policy_kind


@dataclass(frozen=True)
class PolicyVisit:
    """One policy met by the walk."""

    kind: str
    config: dict[str, Any]  # the document's own mapping (an empty one when the entry holds none)
    at: str  # the editor's address: execute/0/case/1/0
    where: str  # the place in messages: execute[0].case[1].execute[0]

    @property
    def title(self) -> str:
        return str(self.config.get("title") or self.kind)


def one_policy(entry: Any) -> tuple[str, dict[str, Any]] | None:
    """(kind, properties) of a list entry that is one policy; None otherwise. A policy without a mapping of
    properties reads as an empty one (not the document's)."""
    if not isinstance(entry, dict) or len(entry) != 1:
        return None
    kind, config = next(iter(entry.items()))
    return str(kind), config if isinstance(config, dict) else {}


def assembly_branches(assembly: dict[str, Any], *, catches: bool = True) -> tuple[Branch, ...]:
    """The assembly's top lists: ``execute``, then each catch (its ``default`` or its ``execute``)."""
    branches = [Branch(at="execute", where="execute", label="Execute", holder=assembly, key="execute")]
    if catches:
        entries = assembly.get("catch")
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if not isinstance(entry, dict):
                continue
            if "default" in entry:
                label, key = "Default (any other error)", "default"
            else:
                label, key = "Catch " + ", ".join(str(e) for e in entry.get("errors") or []), "execute"
            branches.append(Branch(f"catch/{index}", f"catch[{index}].{key}", label, entry, key))
    return tuple(branches)


def policy_branches(kind: str, config: dict[str, Any]) -> tuple[Branch, ...]:
    """The lists of policies a policy holds, as its kind defines them; none for a kind the portal does not run."""
    registered = policy_kind(kind)
    return registered.branches(config) if registered is not None else ()


def assembly_walk(
    assembly: dict[str, Any], *, operation: Operation | None = None, catches: bool = True
) -> Iterator[PolicyVisit]:
    """Every policy of the assembly in document order, a policy before those it holds.

    With ``operation``, only the policies that would run for it: an operation-switch's matching case (else its
    ``otherwise``), as the gateway chooses. ``catches=False`` leaves the catch blocks out.
    """
    for branch in assembly_branches(assembly, catches=catches):
        yield from _walk_branch(branch, branch.at, branch.where, operation)


def _walk_branch(branch: Branch, at: str, where: str, operation: Operation | None) -> Iterator[PolicyVisit]:
    for index, entry in enumerate(branch.policies()):
        policy = one_policy(entry)
        if policy is None:
            continue
        kind, config = policy
        visit = PolicyVisit(kind, config, f"{at}/{index}", f"{where}[{index}]")
        yield visit
        registered = policy_kind(kind)
        if registered is None:
            continue
        inner = registered.branches(config) if operation is None else registered.branches_run_for(config, operation)
        for held in inner:
            yield from _walk_branch(held, f"{visit.at}/{held.at}", f"{visit.where}.{held.where}", operation)
