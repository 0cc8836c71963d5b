"""Import a truststore: certificates only, for verifying tokens signed elsewhere."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from keyprofiles import keymaterial, services
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
        with self.refused("Truststore not imported: "):
            truststore = services.truststore_import(
                organization=organization, name=options["name"], data=data, actor=self.actor
            )
        count = truststore.certificates.count()
        self.stdout.write(self.style.SUCCESS(f"Imported truststore '{truststore.name}' with {count} certificate(s)."))
