"""Publish an API version to a catalog (replacing the catalog's earlier snapshot of it)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from tokens import services
from tokens.commands import ApiCommand


class Command(ApiCommand):
    help = "Publish an API to a catalog. Policies are checked first; a bad one is named and nothing changes."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "name", help='API name or title, e.g. jwt-generation-and-validation or "JWT Generation and Validation".'
        )
        parser.add_argument("--catalog", required=True, help="Catalog slug or title, e.g. sandbox.")
        parser.add_argument("--api-version", help="API version (default: the highest); --version is Django's.")
        self.add_org_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        organization = self.organization(options["org"])
        catalog = self.catalog(organization, options["catalog"])
        api = self.api(organization, options["name"], options["api_version"])
        with self.refused("Not published: "):
            publication = services.api_publish(api=api, catalog=catalog, actor=self.actor)
        self.stdout.write(
            self.style.SUCCESS(
                f"Published {api} to {catalog} (revision {publication.revision}, base path {api.base_path})."
            )
        )
