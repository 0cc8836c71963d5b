"""Import a keystore from a certificate and private key (PEM or DER), or a PKCS#12 file.

A password is never a command-line argument (it would show in the process list and shell history): pass
the name of an environment variable with ``--password-env``, or type it at the prompt.
"""

from __future__ import annotations

import getpass
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from keyprofiles import keymaterial, services
from keyprofiles.keymaterial import KeyMaterialError
from keyprofiles.models import Keystore
from keyprofiles.selectors import certificate_as_dict
from portal.commands import PortalCommand


class Command(PortalCommand):
    help = (
        "Import a keystore: --cert and --key (PEM or DER, optionally --chain), or --p12. "
        "A password comes from --password-env VAR or a prompt, never from the command line."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help='Keystore name, e.g. "JWT Keystore".')
        parser.add_argument("--cert", help="Certificate file, PEM or DER.")
        parser.add_argument("--key", help="Private key file, PEM (optionally encrypted) or DER.")
        parser.add_argument("--chain", help="Intermediate certificates, PEM (up to 10).")
        parser.add_argument("--p12", help="PKCS#12 file (.p12/.pfx) holding key, certificate and chain.")
        self.add_password_env_argument(
            parser, help="Name of the environment variable holding the PKCS#12 password or key passphrase."
        )
        self.add_org_argument(parser)
        parser.add_argument("--json", action="store_true", help="Print the keystore's facts as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = self.organization(options["org"])
        if options["p12"]:
            if options["cert"] or options["key"] or options["chain"]:
                raise CommandError("Give either --p12, or --cert and --key (with an optional --chain), not both.")
        elif not (options["cert"] and options["key"]):
            raise CommandError("Give --cert and --key (PEM or DER), or --p12.")
        limit = keymaterial.MAX_UPLOAD_BYTES

        def read(option: str, what: str) -> bytes | None:
            path = options[option]
            return self.read_file(path, what=what, limit=limit) if path else None

        certificate, private_key = read("cert", "certificate"), read("key", "private key")
        chain, pkcs12 = read("chain", "chain"), read("p12", "PKCS#12")

        def import_with(password: bytes | None) -> Keystore:
            return services.keystore_import(
                organization=organization,
                name=options["name"],
                certificate=certificate,
                private_key=private_key,
                chain=chain,
                pkcs12=pkcs12,
                password=password,
                actor=self.actor,
            )

        password = self.password_from_env(options["password_env"])
        with self.refused("Keystore not imported: "):
            try:
                try:
                    keystore = import_with(password)
                except KeyMaterialError as e:
                    if e.code != "password_required" or password is not None or not sys.stdin.isatty():
                        raise
                    keystore = import_with(getpass.getpass("Password: ").encode())
            except KeyMaterialError as e:
                if e.code != "password_required":
                    raise
                hint = "Pass --password-env VAR naming an environment variable that holds it."
                raise CommandError(f"Keystore not imported: {e} {hint}") from e
        if options["json"]:
            self.write_json({"name": keystore.name, "organization": organization.slug, **certificate_as_dict(keystore)})
            return
        self.stdout.write(self.style.SUCCESS(f"Imported keystore '{keystore.name}' into {organization.slug}."))
        self.stdout.write(f"  subject:     {keystore.subject}")
        self.stdout.write(f"  key:         {keystore.key_type} {keystore.key_size}")
        self.stdout.write(f"  fingerprint: {keystore.fingerprint_sha256}")
        self.stdout.write(f"  chain:       {keystore.chain_length} intermediate certificate(s)")
