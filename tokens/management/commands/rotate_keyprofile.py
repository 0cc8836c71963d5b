"""Rotate a key profile's key in a catalog without a failed request (see tokens/rotation.py).

With ``--expiring-within DAYS`` it rotates every profile whose active certificate expires within DAYS:
with ``check_key_expiry`` and ``retire_keys`` it is the cron recipe in README.md that never lets a key expire.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from keyprofiles import keymaterial
from keyprofiles.models import KeyProfile, Keystore
from portal.commands import PortalCommand
from portal.durations import parse_duration
from portal.errors import REFUSALS, refusal_text
from tokens.rotation import KeySource, keyprofile_rotate, profiles_expiring


class Command(PortalCommand):
    help = (
        "Rotate key profile NAME in --catalog: a new keystore (generated like the current one unless --keystore "
        "or --cert/--key), a new profile version (1.0.0 -> 1.0.1 unless --profile-version), enabled in the "
        "catalog; every served API signing with the old key moves to the new one; the old version verifies "
        "for the grace period (default and minimum: the longest token validity of those APIs). "
        "Or --expiring-within DAYS: rotate every profile whose certificate expires within DAYS."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", nargs="?", help='Profile name or title, e.g. jwt-keyprofile or "JWT Keyprofile".')
        self.add_org_argument(parser)
        parser.add_argument(
            "--catalog", help="Catalog slug or title (required with NAME; a filter with --expiring-within)."
        )
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--generate", action="store_true", help="Generate the new key (the default).")
        source.add_argument("--keystore", help="Use this existing keystore.")
        source.add_argument("--cert", help="Certificate file of the new key pair (with --key).")
        parser.add_argument("--key", help="Private key file of the new key pair (with --cert).")
        parser.add_argument("--chain", help="Intermediate certificates (with --cert).")
        self.add_password_env_argument(parser, help="Environment variable holding the key passphrase.")
        parser.add_argument(
            "--bits", type=int, choices=keymaterial.GENERATE_RSA_BITS, help="RSA size of a generated key."
        )
        parser.add_argument("--profile-version", help="Version of the new profile (default: next patch version).")
        parser.add_argument("--grace", help="How long the old key keeps verifying, e.g. 2h or 1d.")
        parser.add_argument("--prepublish", help="Publish the new key in the JWKS this long before it signs.")
        parser.add_argument("--expiring-within", type=int, metavar="DAYS", help="Rotate every profile expiring soon.")
        parser.add_argument("--dry-run", action="store_true", help="Show what would happen; change nothing.")
        parser.add_argument("--json", action="store_true", help="Print the plan(s) as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = self.organization(options["org"])
        grace = self._duration(options["grace"], "--grace")
        prepublish = self._duration(options["prepublish"], "--prepublish")
        if options["expiring_within"] is not None:
            if options["name"]:
                raise CommandError("Give NAME or --expiring-within DAYS, not both.")
            if options["expiring_within"] < 0:
                raise CommandError("--expiring-within takes a number of days, 0 or more.")
            only = self.catalog(organization, options["catalog"]) if options["catalog"] else None
            targets = [
                (catalog, name)
                for catalog, name in profiles_expiring(within_days=options["expiring_within"])
                if catalog.organization_id == organization.pk and (only is None or catalog.pk == only.pk)
            ]
        else:
            if not options["name"] or not options["catalog"]:
                raise CommandError("Give NAME and --catalog C (or --expiring-within DAYS).")
            profile = self.find(
                KeyProfile.objects,
                options["name"],
                organization=organization,
                what="key profile",
                fields=("name", "title"),
            )[0]
            targets = [(self.catalog(organization, options["catalog"]), profile.name)]
        source = self._source(organization, options)
        plans = []
        failures: list[str] = []
        for catalog, name in targets:
            try:
                plan = keyprofile_rotate(
                    catalog=catalog,
                    name=name,
                    source=source,
                    new_version=options["profile_version"],
                    grace=grace,
                    prepublish=prepublish,
                    dry_run=options["dry_run"],
                    actor=self.actor,
                )
            except REFUSALS as e:
                # One profile's refusal must not keep the others from rotating (a nightly --expiring-within).
                failures.append(f"'{name}' in {catalog} not rotated: {refusal_text(e)}")
                continue
            plans.append(plan)
            if not options["json"]:
                verb = "Would rotate" if plan.dry_run else "Rotated"
                self.stdout.write(
                    self.style.SUCCESS(f"{verb} '{name}' in {catalog}: {plan.old_version} -> {plan.new_version}")
                )
                self.stdout.write(f"  new key:        {plan.key_source}")
                self.stdout.write(f"  signs from:     {plan.activates_at:%Y-%m-%d %H:%M:%S} UTC")
                self.stdout.write(f"  old key retires: {plan.grace_ends_at:%Y-%m-%d %H:%M:%S} UTC (run retire_keys)")
                for api in plan.apis:
                    self.stdout.write(f"  API moved:      {api}")
        if options["json"]:
            self.write_json([plan.as_dict() for plan in plans])
        elif not plans and not failures:
            self.stdout.write("Nothing to rotate.")
        if failures:
            raise CommandError("\n".join(failures))

    def _duration(self, text: str | None, option: str) -> Any:
        if text is None:
            return None
        try:
            return parse_duration(text)
        except ValueError as e:
            raise CommandError(f"{option}: {e}") from e

    def _source(self, organization: Any, options: dict[str, Any]) -> KeySource:
        if options["keystore"]:
            keystore = self.find(Keystore.objects, options["keystore"], organization=organization, what="keystore")[0]
            return KeySource(keystore=keystore)
        if options["cert"] or options["key"]:
            if not (options["cert"] and options["key"]):
                raise CommandError("--cert and --key go together.")
            limit = keymaterial.MAX_UPLOAD_BYTES
            password = self.password_from_env(options["password_env"])
            return KeySource(
                certificate=self.read_file(options["cert"], what="certificate", limit=limit),
                private_key=self.read_file(options["key"], what="private key", limit=limit),
                chain=self.read_file(options["chain"], what="chain", limit=limit) if options["chain"] else None,
                password=password,
            )
        return KeySource(bits=options["bits"])
