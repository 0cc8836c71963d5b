"""Create an API key for the REST API; the key is printed once and only its digest is stored."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from portal import services
from portal.commands import PortalCommand
from portal.durations import parse_duration
from portal.models import ApiKey


class Command(PortalCommand):
    help = (
        "Create an API key for /api/v1/ in an organization, with a role: operator (everything), auditor (read) "
        "or signer (sign and validate with --profiles only, within the --allow-* and --max-expires-in "
        "constraints). The key is shown once; only a keyed digest of it is stored."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="Key name, unique in the organization (e.g. ci-pipeline).")
        self.add_org_argument(parser, required=True, help="Organization slug, e.g. personal.")
        parser.add_argument("--role", required=True, choices=ApiKey.Role.values, help="What the key may do.")
        parser.add_argument("--profiles", default="", help="Comma-separated key profile names a signer may use.")
        parser.add_argument("--expires-in", help="Lifetime, e.g. 90d, 12h, 1w (default: no expiry).")
        parser.add_argument("--allow-iss", default="", help="Regular expression the whole 'iss' must match.")
        parser.add_argument("--allow-aud", default="", help="Regular expression every 'aud' value must match.")
        parser.add_argument("--allow-sub", default="", help="Regular expression the whole 'sub' must match.")
        parser.add_argument("--max-expires-in", type=int, help="Longest token lifetime a signer may ask, in seconds.")
        parser.add_argument("--json", action="store_true", help="Print the key and its facts as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = self.organization(options["org"])
        expires_at = None
        if options["expires_in"]:
            try:
                lifetime = parse_duration(options["expires_in"])
            except ValueError as e:
                raise CommandError(f"--expires-in: {e}") from e
            if not lifetime:
                raise CommandError("--expires-in must be longer than 0 seconds.")
            expires_at = timezone.now() + lifetime
        profiles = [name.strip() for name in options["profiles"].split(",") if name.strip()]
        with self.refused("API key not created: "):
            key, text = services.api_key_create(
                organization=organization,
                name=options["name"],
                role=options["role"],
                profiles=profiles,
                allow_iss=options["allow_iss"],
                allow_aud=options["allow_aud"],
                allow_sub=options["allow_sub"],
                max_expires_in=options["max_expires_in"],
                expires_at=expires_at,
                actor=self.actor,
            )
        if options["json"]:
            self.write_json(
                {
                    "name": key.name,
                    "organization": organization.slug,
                    "role": key.role,
                    "profiles": key.profiles,
                    "display_prefix": key.display_prefix,
                    "expires_at": key.expires_at.isoformat() if key.expires_at else None,
                    "key": text,
                }
            )
            return
        self.stdout.write(self.style.SUCCESS(f"Created API key '{key.name}' ({key.role}) in {organization.slug}."))
        self.stdout.write(self.style.WARNING(f"  key: {text}  (shown once; only its digest is kept)"))
        if key.expires_at:
            self.stdout.write(f"  expires: {key.expires_at:%Y-%m-%d %H:%M:%S %Z}")
