"""List crypto objects: the names jwt-generate and jwt-validate policies sign and verify with."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from keyprofiles import selectors
from portal.commands import PortalCommand


class Command(PortalCommand):
    help = "List crypto objects with their certificates' facts, optionally for one organization and catalog."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--org", help="Organization slug.")
        parser.add_argument("--catalog", help="Catalog slug.")
        parser.add_argument("--json", action="store_true", help="Print a JSON array.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["catalog"] and not options["org"]:
            raise CommandError("--catalog needs --org: catalogs are named within an organization.")
        if options["org"]:
            organization = self.organization(options["org"])
            if options["catalog"]:
                self.catalog(organization, options["catalog"])
        objects = [
            selectors.crypto_object_as_dict(o)
            for o in selectors.crypto_object_list(organization=options["org"], catalog=options["catalog"])
        ]
        if options["json"]:
            self.write_json(objects)
            return
        if not objects:
            self.stdout.write("No crypto objects.")
            return
        for facts in objects:
            line = f"{facts['name']}  {facts['role']}"
            if facts.get("not_after"):
                line += f"  {facts['subject']}  expires in {facts['days_to_expiry']} days"
            self.stdout.write(line)
