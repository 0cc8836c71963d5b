"""Re-seal every private key and shared secret under a new master key.

Add the new key to PORTAL_MASTER_KEYS beside the old one first (both must be readable), run this, then make
the new key active (PORTAL_MASTER_KEY_ID or first in the list) and remove the old one. It works in batches,
each its own transaction, and can be interrupted and run again: it resumes where it stopped.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from keyprofiles import lifecycle
from keyprofiles.sealing import SealingError, master_key_ring
from portal.commands import PortalCommand


class Command(PortalCommand):
    help = "Re-seal every private key and secret under master key --new-key-id (which must be in PORTAL_MASTER_KEYS)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--new-key-id", required=True, help="Id of the master key to seal under.")
        parser.add_argument("--batch-size", type=int, default=100, help="Keys per transaction (default 100).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be re-sealed; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        key_id = options["new_key_id"]
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be 1 or more.")
        if key_id not in master_key_ring().key_ids:
            raise CommandError(
                f"Master key '{key_id}' is not in PORTAL_MASTER_KEYS (known: {', '.join(master_key_ring().key_ids)}). "
                "Add it beside the current key first."
            )
        pending = lifecycle.keystores_to_reseal(key_id).count()
        if options["dry_run"]:
            self.stdout.write(f"{pending} key(s) would be re-sealed under '{key_id}'.")
            return

        def progress(done: int, total: int) -> None:
            if options["verbosity"] >= 1:
                self.stdout.write(f"  re-sealed {done}/{total}")

        try:
            done = lifecycle.keystores_reseal(
                key_id=key_id, actor=self.actor, batch_size=options["batch_size"], progress=progress
            )
        except SealingError as e:
            raise CommandError(f"Stopped: {e} Run the command again once it is fixed; it resumes.") from e
        self.stdout.write(self.style.SUCCESS(f"Re-sealed {done} key(s) under master key '{key_id}'."))
        if done or pending == 0:
            self.stdout.write(
                f"Every key is now sealed under '{key_id}'. Make it the active key and remove the old one from "
                "PORTAL_MASTER_KEYS."
            )
