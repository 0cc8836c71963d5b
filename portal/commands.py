"""What every management command of the portal shares: the ``--org`` and ``--password-env`` options and how
they are read, lookups of objects by title or name that fail clearly (naming the close matches), JSON output,
and the one translation of domain errors (``portal.errors.REFUSALS``) into ``CommandError`` (a message a
person can act on, and exit status 1)."""

from __future__ import annotations

import difflib
import json
import os
from argparse import ArgumentParser
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Manager, Model, QuerySet

from portal.errors import REFUSALS, refusal_text
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
    """The base of the portal's commands. A refusal (``portal.errors.REFUSALS``) that ``handle`` lets escape
    ends the command as a ``CommandError`` with its sentence, never a traceback; ``refused`` adds a prefix."""

    def execute(self, *args: Any, **options: Any) -> str | None:
        with self.refused():
            return super().execute(*args, **options)

    @property
    def actor(self) -> Actor:
        return Actor.for_command(self.__module__.rsplit(".", 1)[-1])

    def add_org_argument(
        self,
        parser: ArgumentParser,
        *,
        default: str | None = DEFAULT_ORGANIZATION,
        required: bool = False,
        help: str | None = None,
    ) -> None:
        """``--org``, declared here for every command: a slug or title, read with ``organization``.

        Optional with the default ``personal`` unless ``required`` (then it has no default) or another
        ``default`` is given (None: the option filters, as in ``list_api_keys``); ``help`` replaces the usual
        text where the option means something narrower.
        """
        if required:
            parser.add_argument("--org", required=True, help=help or "Organization slug or title.")
            return
        usual = f"Organization slug or title (default {default})." if default else "Organization slug or title."
        parser.add_argument("--org", default=default, help=help or usual)

    def add_password_env_argument(self, parser: ArgumentParser, *, help: str) -> None:
        """``--password-env VAR``: a password is never a command-line argument (it would show in the process
        list and shell history), only the name of the environment variable holding it. Read it with
        ``password_from_env``."""
        parser.add_argument("--password-env", metavar="VAR", help=help)

    def password_from_env(self, variable: str | None) -> bytes | None:
        """The password in the environment variable ``--password-env`` names, or None when none was named.

        Raises CommandError when the variable is not set or is empty (an empty password is never what was
        meant: tools that write files without a password write none, not an empty one).
        """
        if variable is None:
            return None
        value = os.environ.get(variable)
        if value is None:
            raise CommandError(f"The environment variable {variable} named by --password-env is not set.")
        if not value:
            raise CommandError(f"The environment variable {variable} named by --password-env is empty.")
        return value.encode()

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
        raise CommandError(f"{prefix}{refusal_text(error)}") from error

    @contextmanager
    def refused(self, prefix: str = "") -> Iterator[None]:
        """Turn a refusal (``portal.errors.REFUSALS``) raised inside into a CommandError, its sentence after
        ``prefix`` (e.g. "Keystore not imported: ")."""
        try:
            yield
        except REFUSALS as e:
            self.fail(e, prefix=prefix)
