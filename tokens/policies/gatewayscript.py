"""gatewayscript: the registration of the JavaScript policy. Its engine and policy class live in
``tokens.gatewayscript`` (the only module that runs JavaScript), loaded at the first compile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tokens.policies.base import BuildPolicies, CryptoResolver, Policy, PolicyKind, Property

KIND = "gatewayscript"
PROPERTIES: dict[str, Property] = {"source": Property(starts_new=True, new_value="")}


class GatewayScriptKind(PolicyKind):
    def summary(self, config: dict[str, Any]) -> str:
        source = config.get("source")
        lines = len(source.splitlines()) if isinstance(source, str) else 0
        return f"JavaScript, {lines} line(s)" if lines else "no source yet"

    def assembly_refusal(self, configs: Sequence[dict[str, Any]]) -> str | None:
        # Each script costs an engine per thread that calls it (about 0.4 MiB, tens of milliseconds to build): an API
        # holds a bounded number, refused before any is checked.
        from tokens.gatewayscript import script_bounds

        limit = script_bounds().max_scripts_per_api
        if len(configs) <= limit:
            return None
        return (
            f"The assembly holds {len(configs)} gatewayscript policies; an API may hold at most {limit} "
            "(the GATEWAYSCRIPT setting MAX_SCRIPTS_PER_API)."
        )


def _compile(title: str, config: dict[str, Any], resolver: CryptoResolver, build: BuildPolicies) -> Policy:
    from tokens.gatewayscript import GatewayScript  # the engine module builds on tokens.policies.base

    return GatewayScript(title, config)


POLICY = GatewayScriptKind(kind=KIND, properties=PROPERTIES, compile=_compile)
