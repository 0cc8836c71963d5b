"""List crypto objects: the names jwt-generate and jwt-validate policies sign and verify with."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from keyprofiles import selectors
from portal.commands import PortalCommand


class Command(PortalCommand):
    help = "List an organization's crypto objects with their certificates' facts, optionally for one catalog."

    def add_arguments(self, parser: ArgumentParser) -> None:
        self.add_org_argument(parser)
        parser.add_argument("--catalog", help="Catalog slug or title (default: every catalog).")
        parser.add_argument("--json", action="store_true", help="Print a JSON array.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = self.organization(options["org"])
        catalog = self.catalog(organization, options["catalog"]) if options["catalog"] else None
        objects = [
            selectors.crypto_object_as_dict(o)
            for o in selectors.crypto_object_list(
                organization=organization.slug, catalog=catalog.slug if catalog else None
            )
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
