"""What the tokens app's management commands share beyond ``portal.commands``: finding an API version, and the
options and dry runs of the API property commands."""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import CommandError
from django.db import transaction

from portal.commands import PortalCommand
from portal.models import Catalog, Organization
from tokens.models import Api


def _version_key(api: Api) -> tuple[int, ...]:
    return tuple(int(part) for part in api.version.split("."))


class ApiCommand(PortalCommand):
    def api(self, organization: Organization, reference: str, version: str | None) -> Api:
        """The API named or titled ``reference`` in ``organization``: the given version, else the highest.

        Raises CommandError naming close matches when no API is so named, or the versions there are when
        the given version is not one of them.
        """
        versions = sorted(
            self.find(Api.objects, reference, organization=organization, what="API", fields=("name", "title")),
            key=_version_key,
        )
        if version is None:
            return versions[-1]
        for api in versions:
            if api.version == version:
                return api
        known = ", ".join(api.version for api in versions)
        raise CommandError(f"No version {version} of API '{versions[0].name}' (versions: {known}).")


class ApiPropertyCommand(ApiCommand):
    """The base of the API property commands (``list_api_properties``, ``set_api_property``,
    ``clear_api_property``): the API by name or title and version, the catalog, and the organization."""

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "name", help='API name or title, e.g. jwt-generation-and-validation or "JWT Generation and Validation".'
        )
        parser.add_argument("--catalog", required=True, help="Catalog slug or title, e.g. sandbox.")
        parser.add_argument("--api-version", help="API version (default: the highest); --version is Django's.")
        self.add_org_argument(parser)

    def api_and_catalog(self, options: dict[str, Any]) -> tuple[Api, Catalog]:
        """The API and the catalog the options name; raises CommandError naming what is not found."""
        organization = self.organization(options["org"])
        catalog = self.catalog(organization, options["catalog"])
        return self.api(organization, options["name"], options["api_version"]), catalog

    @contextmanager
    def changes(self, *, dry_run: bool) -> Iterator[None]:
        """A transaction around a property service, rolled back on a dry run: the value is checked against the
        API's publication exactly as it would be stored, and nothing (value, audit event, gateway change) stays."""
        with transaction.atomic():
            yield
            if dry_run:
                transaction.set_rollback(True)

    def report(self, message: str, *, verbosity: int) -> None:
        """Write a success message unless ``--verbosity 0``."""
        if verbosity >= 1:
            self.stdout.write(self.style.SUCCESS(message))
