"""Publish an API version to a catalog (replacing the catalog's earlier snapshot of it)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from portal.commands import PortalCommand
from tokens import services
from tokens.errors import DocumentError, PolicyConfigError, PublishError
from tokens.models import Api


class Command(PortalCommand):
    help = "Publish an API to a catalog. Policies are checked first; a bad one is named and nothing changes."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="API name.")
        parser.add_argument("--catalog", required=True, help="Catalog slug, e.g. sandbox.")
        parser.add_argument("--api-version", help="API version (default: the highest); --version is Django's.")
        parser.add_argument("--org", default="personal", help="Organization slug (default personal).")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = self.organization(options["org"])
        catalog = self.catalog(organization, options["catalog"])
        apis = Api.objects.filter(organization=organization, name=options["name"])
        if options["api_version"]:
            apis = apis.filter(version=options["api_version"])
        candidates = sorted(apis, key=lambda api: tuple(int(part) for part in api.version.split(".")))
        if not candidates:
            raise CommandError(f"No API '{options['name']}' in organization '{organization.slug}'.")
        api = candidates[-1]
        try:
            publication = services.api_publish(api=api, catalog=catalog, actor=self.actor)
        except (DocumentError, PolicyConfigError, PublishError) as e:
            raise CommandError(f"Not published: {e}") from e
        self.stdout.write(
            self.style.SUCCESS(
                f"Published {api} to {catalog} (revision {publication.revision}, base path {api.base_path})."
            )
        )
