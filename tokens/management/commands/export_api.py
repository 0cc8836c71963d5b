"""Export an API's document as YAML or JSON: the same document that was imported or edited."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from tokens.commands import ApiCommand
from tokens.documents import document_dump


class Command(ApiCommand):
    help = "Export an API document (to standard output unless --output FILE)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "name", help='API name or title, e.g. jwt-generation-and-validation or "JWT Generation and Validation".'
        )
        parser.add_argument("--api-version", help="API version (default: the highest).")
        parser.add_argument("--format", choices=["yaml", "json"], default="yaml", help="Output format (default yaml).")
        parser.add_argument("--output", help="File to write instead of standard output.")
        self.add_org_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        organization = self.organization(options["org"])
        api = self.api(organization, options["name"], options["api_version"])
        text = document_dump(api.document, fmt=options["format"])
        if options["output"]:
            try:
                Path(options["output"]).write_text(text, encoding="utf-8")
            except OSError as e:
                raise CommandError(f"Cannot write '{options['output']}': {e.strerror}.") from e
            self.stderr.write(self.style.SUCCESS(f"Wrote {options['output']}."))
        else:
            self.stdout.write(text, ending="")
