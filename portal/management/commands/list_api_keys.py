"""List API keys (never the keys themselves: only their names, roles, prefixes and states)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from portal.commands import PortalCommand
from portal.models import ApiKey


class Command(PortalCommand):
    help = "List API keys with role, display prefix and state (active, expired, revoked)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        self.add_org_argument(parser, default=None, help="Only this organization.")
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        keys = ApiKey.objects.select_related("organization")
        if options["org"]:
            keys = keys.filter(organization=self.organization(options["org"]))
        rows = [
            {
                "organization": key.organization.slug,
                "name": key.name,
                "role": key.role,
                "profiles": key.profiles,
                "display_prefix": key.display_prefix,
                "state": key.state,
                "expires_at": key.expires_at.isoformat() if key.expires_at else None,
            }
            for key in keys
        ]
        if options["json"]:
            self.write_json(rows)
            return
        for row in rows:
            self.stdout.write(
                f"{row['organization']}/{row['name']}  {row['role']:<8}  {row['display_prefix']}…  {row['state']}"
            )
        if not rows:
            self.stdout.write("No API keys.")
