"""Clear an API property's operator value in one catalog: the document's value applies there again."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from tokens.commands import ApiPropertyCommand
from tokens.properties import api_property_clear


class Command(ApiPropertyCommand):
    help = (
        "Remove the operator's value of an API's property in a catalog, so the document's value applies again. "
        "Refused when the API published there would not run without it."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("property", help="The property, e.g. target-url.")
        parser.add_argument("--dry-run", action="store_true", help="Check the API runs without it; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        api, catalog = self.api_and_catalog(options)
        name = options["property"]
        with self.refused(f"'{name}' not cleared: "), self.changes(dry_run=options["dry_run"]):
            cleared = api_property_clear(api=api, catalog=catalog, name=name, actor=self.actor)
        if not cleared:
            raise CommandError(f"{api} has no operator value of '{name}' in {catalog.slug}: nothing to clear.")
        verb = "Would clear" if options["dry_run"] else "Cleared"
        self.report(
            f"{verb} '{name}' of {api} in {catalog.slug}; the document's value applies again.",
            verbosity=options["verbosity"],
        )
