"""Create a key profile (APIC's TLS client profile), enable it in catalogs, and print its crypto objects."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError
from django.db import transaction

from keyprofiles import services
from keyprofiles.models import SIGNING_ALGORITHMS, CryptoObject, Keystore, Truststore
from portal.commands import PortalCommand


class Command(PortalCommand):
    help = (
        "Create a key profile from a keystore and/or truststore, enable it in the given catalogs "
        "(sandbox by default) and print the crypto object names policies use."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("title", help='Profile title, e.g. "JWT Keyprofile"; its slug is the name.')
        parser.add_argument("--keystore", help='Keystore name, e.g. "JWT Keystore".')
        parser.add_argument("--truststore", help="Truststore name.")
        parser.add_argument(
            "--profile-version",
            default="1.0.0",
            help="Semantic version (default 1.0.0); --version is Django's.",
        )
        parser.add_argument(
            "--alg",
            default="",
            choices=SIGNING_ALGORITHMS,
            help="The one JWS algorithm the keystore's key signs with (default: fixed by the first API that "
            "signs with it).",
        )
        self.add_org_argument(parser)
        parser.add_argument(
            "--catalog",
            action="append",
            dest="catalogs",
            help="Catalog slug or title to enable the profile in; repeat for several (default sandbox).",
        )
        parser.add_argument("--no-enable", action="store_true", help="Create the profile without enabling it.")
        parser.add_argument("--json", action="store_true", help="Print the profile and crypto objects as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = self.organization(options["org"])
        if not options["keystore"] and not options["truststore"]:
            raise CommandError("Give --keystore NAME, --truststore NAME, or both.")
        keystore = truststore = None
        if options["keystore"]:
            keystore = self.find(Keystore.objects, options["keystore"], organization=organization, what="keystore")[0]
        if options["truststore"]:
            truststore = self.find(
                Truststore.objects, options["truststore"], organization=organization, what="truststore"
            )[0]
        slugs = [] if options["no_enable"] else (options["catalogs"] or ["sandbox"])
        catalogs = [self.catalog(organization, slug) for slug in slugs]
        with self.refused("Key profile not created: "), transaction.atomic():
            profile = services.keyprofile_create(
                organization=organization,
                title=options["title"],
                version=options["profile_version"],
                keystore=keystore,
                truststore=truststore,
                catalogs=catalogs,
                algorithm=options["alg"],
                actor=self.actor,
            )
        names = list(CryptoObject.objects.filter(binding__profile=profile).values_list("name", flat=True))
        if options["json"]:
            self.write_json(
                {
                    "title": profile.title,
                    "name": profile.name,
                    "version": profile.version,
                    "algorithm": keystore.algorithm if keystore is not None else "",
                    "organization": organization.slug,
                    "catalogs": slugs,
                    "crypto_objects": names,
                }
            )
            return
        self.stdout.write(self.style.SUCCESS(f"Created key profile '{profile.name}' {profile.version}."))
        for name in names:
            self.stdout.write(f"  {name}")
