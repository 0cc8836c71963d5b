"""System checks for published APIs (``manage.py check --database default``)."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DatabaseError

from tokens.errors import ApiError, PolicyConfigError


@register(Tags.database)
def check_publications(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """tokens.E001: a served publication no longer compiles (e.g. it names a crypto object that is gone).

    Runs only when the database is checked (``--database default``), as Django does for database checks.
    """
    if not databases:
        return []
    from tokens.assembly import document_compile
    from tokens.models import Publication
    from tokens.runtime import CatalogCryptoResolver

    errors: list[CheckMessage] = []
    try:
        publications = list(
            Publication.objects.exclude(state=Publication.State.RETIRED).select_related("api", "catalog__organization")
        )
        for publication in publications:
            try:
                document_compile(
                    publication.document, CatalogCryptoResolver(publication.catalog), catalog=publication.catalog
                )
            except ApiError as e:
                errors.append(
                    Error(
                        f"{publication.api} published in {publication.catalog} cannot be served: {e}",
                        hint="Fix the API and publish it again, or retire it.",
                        obj=publication,
                        id="tokens.E001",
                    )
                )
                continue
            errors.extend(_algorithm_conflicts(publication))
    except DatabaseError:
        # Not migrated yet (this check also runs before `migrate` applies anything): nothing to check.
        return []
    return errors


def _algorithm_conflicts(publication: Any) -> list[CheckMessage]:
    """tokens.W001: a served publication signs with a key in another algorithm than the key's one (possible
    only for keys used with two algorithms before keys had one): it is served, but cannot be republished, and
    the JWKS announces the key's algorithm, not the one its tokens carry."""
    from tokens.assembly import document_compile
    from tokens.runtime import CatalogCryptoResolver

    try:
        document_compile(
            publication.document,
            CatalogCryptoResolver(publication.catalog, publishing=True),
            catalog=publication.catalog,
        )
    except PolicyConfigError as e:
        return [
            Warning(
                f"{publication.api} published in {publication.catalog} signs with another algorithm than its "
                f"key's: {e}",
                hint="Give the API a key of its own (rotate_keyprofile --keystore, or a new key profile created "
                "with --alg) and publish it again; until then verifiers that match the JWKS alg refuse its tokens.",
                obj=publication,
                id="tokens.W001",
            )
        ]
    return []
