"""Report certificates that expire soon. Exit status 1 when there is any, 0 otherwise, so that cron or a
monitoring check can act on it (see README, "Never let a key expire")."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from keyprofiles import selectors
from keyprofiles.conf import keyprofiles_settings
from portal.commands import PortalCommand

MAX_WITHIN_DAYS = 36525  # a century; beyond, dates overflow


class Command(PortalCommand):
    help = "List keystore and truststore certificates expiring within DAYS (default 30); exit 1 if any."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--within",
            type=int,
            default=None,
            metavar="DAYS",
            help=f"Horizon in days (default {keyprofiles_settings.EXPIRY_WARNING_DAYS}).",
        )
        parser.add_argument("--json", action="store_true", help="Print a JSON array.")

    def handle(self, *args: Any, **options: Any) -> None:
        within = options["within"] if options["within"] is not None else keyprofiles_settings.EXPIRY_WARNING_DAYS
        # Exit status 2 for a usage error: 1 means "certificates expire" to the cron line that alerts on it.
        if not 0 <= within <= MAX_WITHIN_DAYS:
            raise CommandError(f"--within takes a number of days from 0 to {MAX_WITHIN_DAYS}.", returncode=2)
        found = selectors.certificates_expiring(within_days=within)
        if options["json"]:
            self.write_json(
                [
                    {
                        "store_kind": item.kind,
                        "store": item.store,
                        "organization": item.organization,
                        "catalogs": item.catalogs,
                        **selectors.certificate_as_dict(item.certificate),
                    }
                    for item in found
                ]
            )
        elif not found:
            self.stdout.write(self.style.SUCCESS(f"No certificate expires within {within} days."))
        else:
            for item in found:
                days = item.certificate.days_to_expiry()
                state = f"expired {-days} days ago" if days is not None and days < 0 else f"expires in {days} days"
                catalogs = ", ".join(item.catalogs) or "no catalog"
                self.stdout.write(
                    self.style.WARNING(
                        f"{item.organization}: {item.kind} '{item.store}' {item.certificate.subject} {state} "
                        f"({item.certificate.not_after:%Y-%m-%d}); enabled in {catalogs}"
                    )
                )
        if found:
            sys.exit(1)
