"""The demo of DESIGN.md section 1: what ``seed_demo`` creates, idempotently."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from keyprofiles import services as keyprofile_services
from keyprofiles.models import CryptoObject, KeyProfile, Keystore
from portal.models import DEFAULT_ORGANIZATION, Catalog
from portal.services import Actor, catalog_get_or_create, organization_get_or_create
from tokens import services
from tokens.models import Api, Publication

ORGANIZATION = DEFAULT_ORGANIZATION
CATALOGS = (("sandbox", "Sandbox"), ("production", "Production"))
KEYSTORE_NAME = "JWT Keystore"
KEYSTORE_CN = "jwt.demo.local"
PROFILE_TITLE = "JWT Keyprofile"
PROFILE_VERSION = "1.0.0"
ADMIN_USER = "admin"
API_DOCUMENT = Path(__file__).with_name("demo_api.yaml")
API_NAME = "jwt-generation-and-validation"


@dataclass
class DemoSummary:
    organization: str
    catalogs: list[str]
    keystores: list[str]
    profiles: list[str]
    crypto_objects: list[str]
    admin_user: str
    client_id: str
    base_path: str
    admin_password: str | None = field(default=None, repr=False)  # only when the user was created just now

    def as_dict(self, *, base_url: str) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "catalogs": self.catalogs,
            "keystores": self.keystores,
            "profiles": self.profiles,
            "crypto_objects": self.crypto_objects,
            "admin_user": self.admin_user,
            "client_id": self.client_id,
            "gateway_url": self.gateway_url(base_url),
        }

    def gateway_url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/{self.organization}/sandbox{self.base_path}"


@transaction.atomic
def demo_seed(*, admin_password: str | None, actor: Actor) -> DemoSummary:
    """Create whatever of the demo is missing and describe all of it.

    The admin user is created once, with ``admin_password`` or a generated one that the summary carries
    (and nothing stores in clear); an existing admin keeps its password.
    """
    organization = organization_get_or_create(slug=ORGANIZATION, title="Personal", actor=actor)
    catalogs = [
        catalog_get_or_create(organization=organization, slug=slug, title=title, actor=actor)
        for slug, title in CATALOGS
    ]
    sandbox = next(c for c in catalogs if c.slug == "sandbox")
    keystore = Keystore.objects.filter(organization=organization, name=KEYSTORE_NAME).first()
    if keystore is None:
        keystore = keyprofile_services.keystore_generate(
            organization=organization, name=KEYSTORE_NAME, common_name=KEYSTORE_CN, actor=actor
        )
    profile = KeyProfile.objects.filter(
        organization=organization,
        name=keyprofile_services.keyprofile_name_for(PROFILE_TITLE),
        version=PROFILE_VERSION,
    ).first()
    if profile is None:
        profile = keyprofile_services.keyprofile_create(
            organization=organization,
            title=PROFILE_TITLE,
            version=PROFILE_VERSION,
            keystore=keystore,
            actor=actor,
        )
    keyprofile_services.keyprofile_enable(profile=profile, catalog=sandbox, actor=actor)

    api = Api.objects.filter(organization=organization, name=API_NAME).order_by("-created_at").first()
    if api is None:
        api, _ = services.api_import(organization=organization, data=API_DOCUMENT.read_bytes(), actor=actor)
    publication = Publication.objects.filter(api=api, catalog=sandbox).first()
    if publication is None or publication.state == Publication.State.RETIRED:
        services.api_publish(api=api, catalog=sandbox, actor=actor)
    app = services.sandbox_test_app(catalog=sandbox, actor=actor)

    created_password = None
    user_model = get_user_model()
    if not user_model.objects.filter(username=ADMIN_USER).exists():
        created_password = admin_password or secrets.token_urlsafe(12)
        user_model.objects.create_superuser(username=ADMIN_USER, email="", password=created_password)

    return DemoSummary(
        organization=organization.slug,
        catalogs=list(Catalog.objects.filter(organization=organization).values_list("slug", flat=True)),
        keystores=list(Keystore.objects.filter(organization=organization).values_list("name", flat=True)),
        profiles=[f"{p.name} {p.version}" for p in KeyProfile.objects.filter(organization=organization)],
        crypto_objects=list(
            CryptoObject.objects.filter(binding__catalog__organization=organization).values_list("name", flat=True)
        ),
        admin_user=ADMIN_USER,
        client_id=app.client_id,
        base_path=api.base_path,
        admin_password=created_password if admin_password is None else None,
    )
