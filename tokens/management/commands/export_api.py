"""Export an API's document as YAML or JSON: the same document that was imported or edited."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from portal.commands import PortalCommand
from tokens.documents import document_dump
from tokens.models import Api


class Command(PortalCommand):
    help = "Export an API document (to standard output unless --output FILE)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="API name, e.g. jwt-generation-and-validation.")
        parser.add_argument("--api-version", help="API version (default: the highest).")
        parser.add_argument("--format", choices=["yaml", "json"], default="yaml", help="Output format (default yaml).")
        parser.add_argument("--output", help="File to write instead of standard output.")
        parser.add_argument("--org", default="personal", help="Organization slug (default personal).")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = self.organization(options["org"])
        apis = Api.objects.filter(organization=organization, name=options["name"])
        if options["api_version"]:
            apis = apis.filter(version=options["api_version"])
        candidates = sorted(apis, key=lambda api: tuple(int(part) for part in api.version.split(".")))
        if not candidates:
            what = f"'{options['name']}'" + (f" version {options['api_version']}" if options["api_version"] else "")
            raise CommandError(f"No API {what} in organization '{organization.slug}'.")
        text = document_dump(candidates[-1].document, fmt=options["format"])
        if options["output"]:
            try:
                Path(options["output"]).write_text(text, encoding="utf-8")
            except OSError as e:
                raise CommandError(f"Cannot write '{options['output']}': {e.strerror}.") from e
            self.stderr.write(self.style.SUCCESS(f"Wrote {options['output']}."))
        else:
            self.stdout.write(text, ending="")
