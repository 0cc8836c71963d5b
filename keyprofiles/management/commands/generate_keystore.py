"""Generate a keystore: a new key and a self-signed certificate from a Common Name, as DataPower's crypto
tool makes them (RSA 2048 by default, SHA-256, 365 days)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from keyprofiles import keymaterial, services
from keyprofiles.selectors import certificate_as_dict
from portal.commands import PortalCommand


class Command(PortalCommand):
    help = "Generate a keystore (private key and self-signed certificate) from a Common Name."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help='Keystore name, e.g. "JWT Keystore".')
        parser.add_argument("--cn", required=True, help="Common Name of the certificate's subject.")
        parser.add_argument("--key-type", choices=["rsa", "ec"], default="rsa", help="Key type (default rsa).")
        parser.add_argument(
            "--bits",
            type=int,
            default=2048,
            choices=keymaterial.GENERATE_RSA_BITS,
            help="RSA key size (default 2048).",
        )
        parser.add_argument("--curve", choices=keymaterial.CURVES, default="P-256", help="EC curve (default P-256).")
        parser.add_argument("--days", type=int, default=365, help="Validity in days, 1 to 3650 (default 365).")
        self.add_org_argument(parser)
        parser.add_argument("--json", action="store_true", help="Print the keystore's facts as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = self.organization(options["org"])
        with self.refused("Keystore not generated: "):
            keystore = services.keystore_generate(
                organization=organization,
                name=options["name"],
                common_name=options["cn"],
                key_type=options["key_type"].upper(),
                bits=options["bits"],
                curve=options["curve"],
                days=options["days"],
                actor=self.actor,
            )
        if options["json"]:
            self.write_json({"name": keystore.name, "organization": organization.slug, **certificate_as_dict(keystore)})
            return
        self.stdout.write(self.style.SUCCESS(f"Generated keystore '{keystore.name}' in {organization.slug}."))
        if options["verbosity"] >= 1:
            self.stdout.write(f"  subject:     {keystore.subject}")
            self.stdout.write(f"  key:         {keystore.key_type} {keystore.key_size}")
            self.stdout.write(f"  fingerprint: {keystore.fingerprint_sha256}")
            self.stdout.write(f"  expires:     {keystore.not_after:%Y-%m-%d %H:%M} UTC")
