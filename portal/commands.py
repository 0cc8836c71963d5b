"""What every management command of the portal shares: lookups that fail clearly, JSON output, and the
translation of domain errors into ``CommandError`` (a message a person can act on, and exit status 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from portal.models import Catalog, Organization
from portal.services import Actor


class PortalCommand(BaseCommand):
    @property
    def actor(self) -> Actor:
        return Actor.for_command(self.__module__.rsplit(".", 1)[-1])

    def organization(self, slug: str) -> Organization:
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            known = ", ".join(Organization.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"No organization '{slug}' (known: {known}).")
        return organization

    def catalog(self, organization: Organization, slug: str) -> Catalog:
        catalog = Catalog.objects.filter(organization=organization, slug=slug).first()
        if catalog is None:
            known = ", ".join(organization.catalogs.values_list("slug", flat=True)) or "none"
            raise CommandError(f"No catalog '{slug}' in organization '{organization.slug}' (known: {known}).")
        return catalog

    def read_file(self, path: str, *, what: str, limit: int | None = None) -> bytes:
        """Read an input file, or fail naming it. With ``limit``, reads at most one byte past it."""
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"The {what} file '{path}' does not exist or is not a file.")
        try:
            with file.open("rb") as handle:
                return handle.read(-1 if limit is None else limit + 1)
        except OSError as e:
            raise CommandError(f"The {what} file '{path}' cannot be read: {e.strerror}.") from e

    def write_json(self, value: Any) -> None:
        self.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str))

    def fail(self, error: Exception, *, prefix: str = "") -> NoReturn:
        """Raise CommandError with a readable message for a domain error."""
        message = "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        raise CommandError(f"{prefix}{message}") from error
