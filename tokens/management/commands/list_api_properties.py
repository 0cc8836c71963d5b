"""List an API's properties in a catalog, each with its value's source (DESIGN.md 3a); values only when asked."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from tokens.commands import ApiPropertyCommand
from tokens.properties import ApiPropertyState, PropertySource, api_property_listing


class Command(ApiPropertyCommand):
    help = (
        "List every property of an API in a catalog (declared by its document, given a value for the catalog "
        "by it, or set by an operator) with where its value comes from. Values may be credentials: they are "
        "printed only with --show-values."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--show-values", action="store_true", help="Also print the values (may be secrets).")
        parser.add_argument("--json", action="store_true", help="Print a JSON array.")

    def handle(self, *args: Any, **options: Any) -> None:
        api, catalog = self.api_and_catalog(options)
        listing = api_property_listing(api=api, catalog=catalog)
        show_values = options["show_values"]
        if options["json"]:
            self.write_json([_as_dict(state, show_values=show_values) for state in listing])
            return
        if not listing:
            self.stdout.write(f"{api} has no properties in {catalog.slug}.")
            return
        width = max(len(state.name) for state in listing)
        for state in listing:
            line = f"{state.name:<{width}}  {state.source.value:<16}"
            if state.updated_at is not None:
                line += f"  set {state.updated_at:%Y-%m-%d %H:%M:%S} UTC"
            if show_values and state.source != PropertySource.UNSET:
                line += f"  {json.dumps(state.value)}"
            self.stdout.write(line.rstrip())


def _as_dict(state: ApiPropertyState, *, show_values: bool) -> dict[str, Any]:
    return {
        "name": state.name,
        "source": state.source.value,
        "value": state.value if show_values else None,
        "updated_at": state.updated_at.isoformat() if state.updated_at else None,
    }
