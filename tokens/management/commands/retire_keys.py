"""Advance key life cycles: activate pre-published versions whose time has come and retire passive
versions whose grace period has ended. Safe to run every minute from cron, on any number of hosts."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from portal.commands import PortalCommand
from tokens.rotation import lifecycle_tick


class Command(PortalCommand):
    help = (
        "Retire passive key versions whose grace period has ended, and activate pre-published (next) versions "
        "whose time has come. Run it every minute."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Show what would change; change nothing.")
        parser.add_argument("--json", action="store_true", help="Print what changed as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = lifecycle_tick(actor=self.actor, dry_run=options["dry_run"])
        if options["json"]:
            self.write_json({"activated": report.activated, "retired": report.retired, "dry_run": options["dry_run"]})
            return
        prefix = "Would " if options["dry_run"] else ""
        for item in report.activated:
            self.stdout.write(self.style.SUCCESS(f"{prefix}{'activate' if prefix else 'Activated'} {item}"))
        for item in report.retired:
            self.stdout.write(self.style.SUCCESS(f"{prefix}{'retire' if prefix else 'Retired'} {item}"))
        if not report.activated and not report.retired and options["verbosity"] >= 1:
            self.stdout.write("Nothing to activate or retire.")
