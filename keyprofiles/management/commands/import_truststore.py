"""Import a truststore: certificates only, for verifying tokens signed elsewhere."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError

from keyprofiles import keymaterial, services
from keyprofiles.keymaterial import KeyMaterialError
from portal.commands import PortalCommand


class Command(PortalCommand):
    help = "Import a truststore from a file of PEM certificates (or one DER certificate)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="Truststore name.")
        parser.add_argument("--certs", required=True, help="File of one or more PEM certificates, or one DER.")
        self.add_org_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        organization = self.organization(options["org"])
        data = self.read_file(options["certs"], what="certificate", limit=keymaterial.MAX_UPLOAD_BYTES)
        try:
            truststore = services.truststore_import(
                organization=organization, name=options["name"], data=data, actor=self.actor
            )
        except (KeyMaterialError, ValidationError) as e:
            self.fail(e, prefix="Truststore not imported: ")
        count = truststore.certificates.count()
        self.stdout.write(self.style.SUCCESS(f"Imported truststore '{truststore.name}' with {count} certificate(s)."))
