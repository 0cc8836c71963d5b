"""Seed the demo of DESIGN.md section 1, idempotently: run it as often as you like.

The gateway URL it prints must be where the portal actually runs. ``make run`` passes the port it serves on
with ``--serving-at``, which is also remembered in the var directory, so that a later ``seed_demo --json``
from another shell prints the same URL; ``--base-url`` or ``PORT`` override it.
"""

from __future__ import annotations

import os
from argparse import ArgumentParser, ArgumentTypeError
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from portal.commands import PortalCommand
from portal.models import Catalog
from tokens.demo import ORGANIZATION, demo_seed
from tokens.demo_load import LOAD_PREFIX, LoadShapeError, demo_load_seed
from tokens.models import Api

MAX_LOAD = 100_000


def _count(text: str) -> int:
    """A --apis/--apps value: a whole number from 0 to MAX_LOAD."""
    if not text.isascii() or not text.isdigit() or int(text) > MAX_LOAD:
        raise ArgumentTypeError(f"'{text}' is not a whole number from 0 to {MAX_LOAD}.")
    return int(text)


class Command(PortalCommand):
    help = (
        "Create the demo: organization 'personal' with catalogs sandbox and production, keystore 'JWT Keystore' "
        "(CN jwt.demo.local), key profile 'JWT Keyprofile' 1.0.0 enabled in sandbox, the API 'JWT Generation "
        "and Validation' published to sandbox, the Sandbox Test App, and an admin user (password from "
        "PORTAL_ADMIN_PASSWORD, else generated and printed once). Idempotent. With --apis N --apps M, also N "
        "published copies of the demo API (demo-load-00001... at /demo-load-00001...) and M apps subscribed to "
        "two of them each, written in bulk: load for the gateway (bench/scale). With --properties, each copy "
        "reads its own value of an API property, so that none shares a compiled assembly."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print what exists as one JSON object.")
        where = parser.add_mutually_exclusive_group()
        where.add_argument(
            "--base-url",
            help=(
                "Where the portal is served, for gateway_url and the curl commands (default: the URL make run "
                "remembered, else http://127.0.0.1:$PORT, else port 8000)."
            ),
        )
        where.add_argument(
            "--serving-at",
            metavar="URL",
            help="Like --base-url, and remembered for later runs: make run passes the URL it serves on.",
        )

        parser.add_argument(
            "--apis",
            type=_count,
            default=0,
            metavar="N",
            help="Also publish N copies of the demo API in sandbox, each with its own name and base path.",
        )
        parser.add_argument(
            "--apps",
            type=_count,
            default=0,
            metavar="M",
            help="Also create M consumer apps in sandbox, each subscribed to two of those APIs.",
        )
        parser.add_argument(
            "--properties",
            action="store_true",
            help=(
                "With --apis: each copy declares the API property 'tenant' (tenant-00001...) and answers it in an "
                "X-Tenant header; odd copies take it from their document, even ones from an operator's value."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["properties"] and not options["apis"]:
            raise CommandError("--properties shapes the load's APIs: give --apis N too.")
        base_url = self._base_url(options["base_url"], options["serving_at"])
        summary = demo_seed(admin_password=os.environ.get("PORTAL_ADMIN_PASSWORD") or None, actor=self.actor)
        if options["apis"] or options["apps"]:
            self._load(
                options["apis"],
                options["apps"],
                properties=options["properties"],
                quiet=options["json"] or options["verbosity"] < 1,
            )
        if options["json"]:
            data = summary.as_dict(base_url=base_url)
            if summary.admin_password:
                data["admin_password"] = summary.admin_password
            self.write_json(data)
            return
        url = summary.gateway_url(base_url)
        self.stdout.write(self.style.SUCCESS(f"Demo ready in organization '{summary.organization}'."))
        self.stdout.write(f"  catalogs:       {', '.join(summary.catalogs)}")
        self.stdout.write(f"  key profiles:   {', '.join(summary.profiles)}")
        for name in summary.crypto_objects:
            self.stdout.write(f"  crypto object:  {name}")
        self.stdout.write(f"  API:            {url}  (GET /generate, GET /validate)")
        self.stdout.write(f"  client id:      {summary.client_id}  (Sandbox Test App)")
        if summary.admin_password:
            self.stdout.write(
                self.style.WARNING(
                    f"  console:        {base_url}/admin/  user '{summary.admin_user}', password "
                    f"{summary.admin_password}  (shown once; set PORTAL_ADMIN_PASSWORD to choose it)"
                )
            )
        else:
            self.stdout.write(f"  console:        {base_url}/admin/  user '{summary.admin_user}'")
        self.stdout.write("\nYour first token: generate (the token is saved in /tmp/jwt_token), then validate it:\n")
        self.stdout.write(
            f"curl -si -H 'X-IBM-Client-Id: {summary.client_id}' -H 'iss-claim: apic' -H 'aud-claim: id1' "
            f"{url}/generate | tee /dev/stderr | tr -d '\\r' | sed -n 's/^[Aa]uthorization: //p' > /tmp/jwt_token"
        )
        self.stdout.write(
            f"curl -si -H 'X-IBM-Client-Id: {summary.client_id}' -H \"Authorization: $(cat /tmp/jwt_token)\" "
            f"{url}/validate"
        )

    def _load(self, apis: int, apps: int, *, properties: bool, quiet: bool) -> None:
        if apps and not apis and not Api.objects.filter(name__startswith=LOAD_PREFIX).exists():
            raise CommandError("--apps subscribes the apps to the load's APIs: give --apis N too.")
        sandbox = Catalog.objects.get(organization__slug=ORGANIZATION, slug="sandbox")
        progress = None if quiet else (lambda message: self.stderr.write(f"  {message}"))
        try:
            load = demo_load_seed(
                catalog=sandbox, apis=apis, apps=apps, properties=properties, actor=self.actor, progress=progress
            )
        except LoadShapeError as e:
            raise CommandError(str(e)) from e
        if not quiet:
            values = f", {load.property_values_created} new operator property values" if properties else ""
            self.stdout.write(
                self.style.SUCCESS(
                    f"Load ready in sandbox: {load.apis_total} APIs ({load.apis_created} new), "
                    f"{load.apps_total} apps ({load.apps_created} new){values}."
                )
            )

    def _base_url(self, base_url: str | None, serving_at: str | None) -> str:
        """The portal's URL: given, else remembered from ``make run``, else from ``PORT``, else port 8000."""
        remembered = Path(settings.VAR_DIR) / "served-url"
        if serving_at:
            url = self._checked(serving_at)
            try:
                remembered.parent.mkdir(parents=True, exist_ok=True)
                remembered.write_text(url + "\n", encoding="utf-8")
            except OSError as e:
                raise CommandError(f"Cannot remember the URL in '{remembered}': {e.strerror}.") from e
            return url
        if base_url:
            return self._checked(base_url)
        if os.environ.get("PORT"):
            return f"http://127.0.0.1:{os.environ['PORT']}"
        try:
            return self._checked(remembered.read_text(encoding="utf-8").strip())
        except (OSError, CommandError):
            return "http://127.0.0.1:8000"

    @staticmethod
    def _checked(url: str) -> str:
        if not url.startswith(("http://", "https://")) or len(url) > 200 or any(c.isspace() for c in url):
            raise CommandError(f"'{url}' is not a base URL such as http://127.0.0.1:8000.")
        return url.rstrip("/")
