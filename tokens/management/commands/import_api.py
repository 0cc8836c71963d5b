"""Import an API from an APIC-style OpenAPI document (YAML or JSON), optionally publishing it."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from portal.commands import PortalCommand
from tokens import services
from tokens.documents import MAX_DOCUMENT_BYTES


class Command(PortalCommand):
    help = (
        "Import an API from an OpenAPI 2.0 or 3.0 document with x-ibm-configuration (YAML or JSON). "
        "An existing version of the same name is updated. With --catalog C --publish, publish it there too."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", help="The document, .yaml/.yml or .json ('-' reads standard input).")
        self.add_org_argument(parser)
        parser.add_argument("--catalog", help="Catalog slug or title to publish to (with --publish).")
        parser.add_argument("--publish", action="store_true", help="Publish to --catalog after importing.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = self.organization(options["org"])
        if options["publish"] and not options["catalog"]:
            raise CommandError("--publish needs --catalog C.")
        catalog = self.catalog(organization, options["catalog"]) if options["catalog"] else None
        if options["file"] == "-":
            data = sys.stdin.buffer.read(MAX_DOCUMENT_BYTES + 1)
        else:
            data = self.read_file(options["file"], what="API document", limit=MAX_DOCUMENT_BYTES)
        with self.refused("API not imported: "):
            api, created = services.api_import(organization=organization, data=data, actor=self.actor)
        verb = "Imported" if created else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} API '{api.name}' {api.version} (base path {api.base_path})."))
        if options["publish"]:
            assert catalog is not None
            with self.refused("API imported but not published: "):
                publication = services.api_publish(api=api, catalog=catalog, actor=self.actor)
            self.stdout.write(self.style.SUCCESS(f"Published to {catalog} (revision {publication.revision})."))
