"""Set an API property's value in one catalog, over the document's (DESIGN.md 3a).

The API's publication in that catalog is recompiled in every gateway process within seconds; a value it would
not run with is refused, naming the policy, and nothing is stored. A value may be a backend's credential:
``--value-file -`` reads it from standard input, so it need not appear in the process list or shell history;
no output shows it, and the audit log records the property, never the value.
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from tokens.commands import ApiPropertyCommand
from tokens.properties import api_property_listing, api_property_set

# The most a value file may hold: as much as the REST API takes in one request body.
MAX_VALUE_BYTES = 1024 * 1024


class Command(ApiPropertyCommand):
    help = (
        "Set the operator's value of an API's property in a catalog (the document's applies again after "
        "clear_api_property). The value is VALUE or the text of --value-file FILE ('-': standard input, so a "
        "credential stays out of the process list). A value the published API would not run with is refused."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("property", help="The property, as the assembly reads it: target-url for $(target-url).")
        parser.add_argument("value", nargs="?", help="The value (or --value-file, to keep it off the command line).")
        parser.add_argument(
            "--value-file",
            metavar="FILE",
            help="Read the value from FILE ('-': standard input), less a line ending at its end.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Check the value; store nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        api, catalog = self.api_and_catalog(options)
        name = options["property"]
        value = self._value(options["value"], options["value_file"])
        names = [state.name for state in api_property_listing(api=api, catalog=catalog)]
        if name not in names:
            # A typo would set a variable that nothing reads.
            raise CommandError(
                f"{api} has no property '{name}' in {catalog.slug} (it has: {', '.join(names) or 'none'}); "
                "declare it in the document's x-ibm-configuration.properties first."
            )
        with self.refused(f"'{name}' not set: "), self.changes(dry_run=options["dry_run"]):
            api_property_set(api=api, catalog=catalog, name=name, value=value, actor=self.actor)
        if options["dry_run"]:
            message = f"Would set '{name}' of {api} in {catalog.slug}: the value is accepted; nothing stored."
        else:
            message = f"Set '{name}' of {api} in {catalog.slug}; every gateway process serves it within seconds."
        self.report(message, verbosity=options["verbosity"])

    def _value(self, argument: str | None, path: str | None) -> str:
        """The value to set: the argument, or the file's (standard input's) text less the line ending at its end."""
        if path is None and argument is not None:
            return argument
        if path is None or argument is not None:
            raise CommandError("Give the value either as VALUE or with --value-file FILE ('-' reads standard input).")
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
