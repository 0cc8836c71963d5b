"""List, set and clear an API's property values in a catalog (DESIGN.md 3a): ``list``, ``set``, ``clear``.

An operator's value overrides the document's in one catalog without a new document version; the API's
publication there is recompiled in every gateway process within seconds, and a value it would not run with
is refused, naming the policy. A value may be a backend's credential: ``set`` reads it from a file or
standard input (``--value-file -``) so it need not appear in the process list or shell history, no output
shows it unless ``list --show-values`` asks, and the audit log records the property, never the value.
"""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import CommandError
from django.db import transaction

from portal.models import Catalog
from tokens.commands import ApiCommand
from tokens.models import Api
from tokens.properties import (
    ApiPropertyState,
    PropertySource,
    api_property_clear,
    api_property_listing,
    api_property_set,
)

# The most a value file may hold: as much as the REST API takes in one request body.
MAX_VALUE_BYTES = 1024 * 1024


class Command(ApiCommand):
    help = (
        "An API's property values in a catalog. 'list' names every property with its value's source; 'set' "
        "gives one an operator's value there (over the document's), 'clear' removes it. The value of 'set' "
        "comes from VALUE or --value-file FILE ('-': standard input, so a credential stays out of the process "
        "list). A value the published API would not run with is refused, naming the policy."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{list,set,clear}")
        listing = actions.add_parser("list", help="Every property of the API in the catalog and its value's source.")
        self._add_api_arguments(listing)
        listing.add_argument("--show-values", action="store_true", help="Also print the values (may be secrets).")
        listing.add_argument("--json", action="store_true", help="Print a JSON array.")

        setting = actions.add_parser("set", help="Set the operator's value of a property in the catalog.")
        self._add_api_arguments(setting)
        setting.add_argument("property", help="The property, as the assembly reads it: target-url for $(target-url).")
        setting.add_argument("value", nargs="?", help="The value (or --value-file, to keep it off the command line).")
        setting.add_argument(
            "--value-file",
            metavar="FILE",
            help="Read the value from FILE ('-': standard input), less a line ending at its end.",
        )
        setting.add_argument("--dry-run", action="store_true", help="Check the value; store nothing.")

        clearing = actions.add_parser("clear", help="Remove the operator's value: the document's applies again.")
        self._add_api_arguments(clearing)
        clearing.add_argument("property", help="The property, e.g. target-url.")
        clearing.add_argument("--dry-run", action="store_true", help="Check the API runs without it; change nothing.")

    def _add_api_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "name", help='API name or title, e.g. jwt-generation-and-validation or "JWT Generation and Validation".'
        )
        parser.add_argument("--catalog", required=True, help="Catalog slug or title, e.g. sandbox.")
        parser.add_argument("--api-version", help="API version (default: the highest); --version is Django's.")
        self.add_org_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = int(options["verbosity"])
        organization = self.organization(options["org"])
        catalog = self.catalog(organization, options["catalog"])
        api = self.api(organization, options["name"], options["api_version"])
        if options["action"] == "list":
            self._list(api, catalog, show_values=options["show_values"], as_json=options["json"])
        elif options["action"] == "set":
            self._set(api, catalog, options)
        else:
            self._clear(api, catalog, options)

    def _list(self, api: Api, catalog: Catalog, *, show_values: bool, as_json: bool) -> None:
        listing = api_property_listing(api=api, catalog=catalog)
        if as_json:
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

    def _set(self, api: Api, catalog: Catalog, options: dict[str, Any]) -> None:
        name = options["property"]
        value = self._value(options["value"], options["value_file"])
        self._known_property(api, catalog, name)
        with self.refused(f"'{name}' not set: "), self._changes(dry_run=options["dry_run"]):
            api_property_set(api=api, catalog=catalog, name=name, value=value, actor=self.actor)
        if options["dry_run"]:
            self._report(f"Would set '{name}' of {api} in {catalog.slug}: the value is accepted; nothing stored.")
        else:
            self._report(f"Set '{name}' of {api} in {catalog.slug}; every gateway process serves it within seconds.")

    def _clear(self, api: Api, catalog: Catalog, options: dict[str, Any]) -> None:
        name = options["property"]
        with self.refused(f"'{name}' not cleared: "), self._changes(dry_run=options["dry_run"]):
            cleared = api_property_clear(api=api, catalog=catalog, name=name, actor=self.actor)
        if not cleared:
            raise CommandError(f"{api} has no operator value of '{name}' in {catalog.slug}: nothing to clear.")
        verb = "Would clear" if options["dry_run"] else "Cleared"
        self._report(f"{verb} '{name}' of {api} in {catalog.slug}; the document's value applies again.")

    def _value(self, argument: str | None, path: str | None) -> str:
        """The value to set: the argument, or the file's (standard input's) text less the line ending at its end."""
        if (argument is None) == (path is None):
            raise CommandError("Give the value either as VALUE or with --value-file FILE ('-' reads standard input).")
        if argument is not None:
            return argument
        assert path is not None
        if path == "-":
            data = sys.stdin.buffer.read(MAX_VALUE_BYTES + 1)
        else:
            data = self.read_file(path, what="value", limit=MAX_VALUE_BYTES)
        if len(data) > MAX_VALUE_BYTES:
            raise CommandError(f"The value is larger than {MAX_VALUE_BYTES // (1024 * 1024)} MiB.")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CommandError(f"The value is not UTF-8 text (byte {e.start} cannot be read).") from e
        # What echo, heredocs and editors end a file with is not part of the value.
        return text.removesuffix("\n").removesuffix("\r")

    def _known_property(self, api: Api, catalog: Catalog, name: str) -> None:
        """Refuse a name the API has no property of (a typo would set a variable nothing reads)."""
        names = [state.name for state in api_property_listing(api=api, catalog=catalog)]
        if name not in names:
            raise CommandError(
                f"{api} has no property '{name}' in {catalog.slug} (it has: {', '.join(names) or 'none'}); "
                "declare it in the document's x-ibm-configuration.properties first."
            )

    @contextmanager
    def _changes(self, *, dry_run: bool) -> Iterator[None]:
        """A transaction around the service, rolled back on a dry run: the value is checked against the
        publication exactly as it would be stored, and nothing (value, audit event, gateway change) stays."""
        with transaction.atomic():
            yield
            if dry_run:
                transaction.set_rollback(True)

    def _report(self, message: str) -> None:
        if self.verbosity >= 1:
            self.stdout.write(self.style.SUCCESS(message))


def _as_dict(state: ApiPropertyState, *, show_values: bool) -> dict[str, Any]:
    return {
        "name": state.name,
        "source": state.source.value,
        "value": state.value if show_values else None,
        "updated_at": state.updated_at.isoformat() if state.updated_at else None,
    }
