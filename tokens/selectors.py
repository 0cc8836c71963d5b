"""Database reads for the console's pages: the test page's client id and key ids, and the console home.
None returns key material."""

from __future__ import annotations

from typing import Any, Protocol

from keyprofiles import keymaterial
from keyprofiles import selectors as keyprofile_selectors
from keyprofiles.conf import keyprofiles_settings
from keyprofiles.models import CryptoObject
from keyprofiles.sealing import SealingError
from portal.models import AuditEvent, Catalog
from tokens.models import ConsumerApp, Publication
from tokens.services import SANDBOX_TEST_APP
from tokens.viewmodels import ConsoleHome, ExpiringItem


def client_id_for_test(publication: Publication) -> str:
    """The client id the test page fills in: the catalog's Sandbox Test App, else the first subscriber."""
    app = (
        ConsumerApp.objects.filter(catalog=publication.catalog, name=SANDBOX_TEST_APP).first()
        or publication.subscribers.order_by("created_at").first()
    )
    return app.client_id if app is not None else ""


def crypto_object_kids(*, catalog: Catalog) -> dict[str, list[dict[str, str]]]:
    """kid -> the crypto objects of a catalog with that key id (RFC 7638 thumbprint, as tokens carry it).

    Certificates give their public key's thumbprint; a shared secret its own thumbprint (unsealed through the
    per-process key cache; only the thumbprint leaves it). Objects whose key cannot be read are left out.
    """
    kids: dict[str, list[dict[str, str]]] = {}
    for crypto_object in keyprofile_selectors.crypto_object_list(
        organization=catalog.organization.slug, catalog=catalog.slug
    ):
        certificate = crypto_object.certificate
        try:
            if certificate is not None:
                kid = keymaterial.jwk_thumbprint(
                    keymaterial.public_jwk(keymaterial.public_key_from_certificate_pem(certificate.certificate_pem))
                )
            else:
                kid = keyprofile_selectors.crypto_material(crypto_object).kid
        except (SealingError, keymaterial.KeyMaterialError, ValueError):
            continue
        kids.setdefault(kid, []).append({"name": crypto_object.name, "role": crypto_object.get_role_display()})
    return kids


RECENT_EVENTS = 10


class PermissionHolder(Protocol):
    def has_perm(self, perm: str, obj: Any = None) -> bool: ...


def console_home(*, user: PermissionHolder) -> ConsoleHome:
    """Certificates expiring within KEYPROFILES EXPIRY_NOTICE_DAYS (90; within EXPIRY_WARNING_DAYS, 30, they
    are urgent), crypto objects and publications per catalog, and the latest audit events, each only if the
    user may view that kind of object."""
    home = ConsoleHome(
        warning_days=keyprofiles_settings.EXPIRY_WARNING_DAYS, notice_days=keyprofiles_settings.EXPIRY_NOTICE_DAYS
    )
    if user.has_perm("keyprofiles.view_keystore") or user.has_perm("keyprofiles.view_truststore"):
        home.expiring = []
        for found in keyprofile_selectors.certificates_expiring(within_days=home.notice_days):
            days = found.certificate.days_to_expiry()
            urgent = days is None or days <= home.warning_days
            home.expiring.append(
                ExpiringItem(
                    kind=found.kind,
                    store=found.store,
                    organization=found.organization,
                    subject=found.certificate.subject,
                    not_after=found.certificate.not_after,
                    days=days,
                    catalogs=found.catalogs,
                    urgent=urgent,
                )
            )
        home.urgent_count = sum(1 for item in home.expiring if item.urgent)
        home.notice_count = len(home.expiring) - home.urgent_count
    if user.has_perm("keyprofiles.view_cryptoobject"):
        grouped: dict[int, tuple[Catalog, list[CryptoObject]]] = {}
        for crypto_object in keyprofile_selectors.crypto_object_list():
            catalog = crypto_object.binding.catalog
            grouped.setdefault(catalog.pk, (catalog, []))[1].append(crypto_object)
        home.crypto_objects = sorted(grouped.values(), key=lambda pair: str(pair[0]))
    if user.has_perm("tokens.view_publication"):
        by_catalog: dict[int, tuple[Catalog, list[Publication]]] = {}
        for publication in Publication.objects.select_related("api", "catalog__organization").order_by(
            "catalog__organization__slug", "catalog__slug", "base_path"
        ):
            by_catalog.setdefault(publication.catalog_id, (publication.catalog, []))[1].append(publication)
        home.publications = list(by_catalog.values())
    if user.has_perm("portal.view_auditevent"):
        home.audit_events = list(AuditEvent.objects.select_related("organization")[:RECENT_EVENTS])
    return home
