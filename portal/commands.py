"""What every management command of the portal shares: the ``--org`` option and its default, lookups of
objects by title or name that fail clearly (naming the close matches), JSON output, and the translation of
domain errors into ``CommandError`` (a message a person can act on, and exit status 1)."""

from __future__ import annotations

import difflib
import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Manager, Model, QuerySet

from portal.models import DEFAULT_ORGANIZATION, Catalog, Organization
from portal.services import Actor

M = TypeVar("M", bound=Model)


def lookup(queryset: QuerySet[M], reference: str, *, fields: tuple[str, ...], what: str, where: str = "") -> list[M]:
    """The objects of ``queryset`` whose ``fields`` (e.g. name, then title) equal ``reference``.

    An exact match wins over a case-insensitive one, so "JWT Keystore" and "jwt keystore" both find the
    keystore. Several objects may come back (the versions of one API). Raises ``CommandError`` listing the
    known values and naming the close matches (difflib) when nothing matches.
    """
    for suffix in ("", "__iexact"):
        for field in fields:
            found = list(queryset.filter(**{f"{field}{suffix}": reference}))
            if found:
                return found
    # Each object is suggested once, by whichever of its spellings (name, title) is closest.
    owners: dict[str, object] = {}
    for row in queryset.order_by(fields[0]).values_list("pk", *fields):
        for value in row[1:]:
            owners.setdefault(str(value), row[0])
    close: list[str] = []
    for spelling in difflib.get_close_matches(reference.lower(), [s.lower() for s in owners], n=10, cutoff=0.6):
        original = next(s for s in owners if s.lower() == spelling)
        if owners[original] not in {owners[c] for c in close}:
            close.append(original)
    close = close[:3]
    # The listing names each object once, by its first field (its name or slug); a title may be a close match.
    names = [str(value) for value in queryset.order_by(fields[0]).values_list(fields[0], flat=True).distinct()]
    known = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    message = f"No {what} '{reference}'{f' {where}' if where else ''} (known: {known or 'none yet'})."
    if close:
        message += " Did you mean " + " or ".join(f"'{value}'" for value in close) + "?"
    raise CommandError(message)


class PortalCommand(BaseCommand):
    @property
    def actor(self) -> Actor:
        return Actor.for_command(self.__module__.rsplit(".", 1)[-1])

    def add_org_argument(self, parser: ArgumentParser) -> None:
        """``--org``, the same in every command: a slug or title, default ``personal``."""
        parser.add_argument(
            "--org",
            default=DEFAULT_ORGANIZATION,
            help=f"Organization slug or title (default {DEFAULT_ORGANIZATION}).",
        )

    def organization(self, reference: str) -> Organization:
        """The organization with this slug or title."""
        return lookup(Organization.objects.all(), reference, fields=("slug", "title"), what="organization")[0]

    def catalog(self, organization: Organization, reference: str) -> Catalog:
        """The catalog of ``organization`` with this slug or title."""
        return lookup(
            organization.catalogs.all(),
            reference,
            fields=("slug", "title"),
            what="catalog",
            where=f"in organization '{organization.slug}'",
        )[0]

    def find(
        self,
        objects: Manager[M] | QuerySet[M],
        reference: str,
        *,
        organization: Organization,
        what: str,
        fields: tuple[str, ...] = ("name",),
    ) -> list[M]:
        """The objects of ``organization`` among ``objects`` named (or titled) ``reference``; see ``lookup``."""
        return lookup(
            objects.filter(organization=organization),
            reference,
            fields=fields,
            what=what,
            where=f"in organization '{organization.slug}'",
        )

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
