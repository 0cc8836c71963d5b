"""Seed the demo of DESIGN.md section 1, idempotently: run it as often as you like."""

from __future__ import annotations

import os
from argparse import ArgumentParser
from typing import Any

from portal.commands import PortalCommand
from tokens.demo import demo_seed


class Command(PortalCommand):
    help = (
        "Create the demo: organization 'personal' with catalogs sandbox and production, keystore 'JWT Keystore' "
        "(CN jwt.demo.local), key profile 'JWT Keyprofile' 1.0.0 enabled in sandbox, the API 'JWT Generation "
        "and Validation' published to sandbox, the Sandbox Test App, and an admin user (password from "
        "PORTAL_ADMIN_PASSWORD, else generated and printed once). Idempotent."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print what exists as one JSON object.")
        parser.add_argument(
            "--base-url",
            default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}",
            help="Where the portal is served, for gateway_url and the curl commands (default from PORT).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        summary = demo_seed(admin_password=os.environ.get("PORTAL_ADMIN_PASSWORD") or None, actor=self.actor)
        if options["json"]:
            data = summary.as_dict(base_url=options["base_url"])
            if summary.admin_password:
                data["admin_password"] = summary.admin_password
            self.write_json(data)
            return
        url = summary.gateway_url(options["base_url"])
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
                    f"  console:        {options['base_url']}/admin/  user '{summary.admin_user}', password "
                    f"{summary.admin_password}  (shown once; set PORTAL_ADMIN_PASSWORD to choose it)"
                )
            )
        else:
            self.stdout.write(f"  console:        {options['base_url']}/admin/  user '{summary.admin_user}'")
        self.stdout.write("\nYour first token: generate (the token is saved in /tmp/jwt_token), then validate it:\n")
        self.stdout.write(
            f"curl -si -H 'X-IBM-Client-Id: {summary.client_id}' -H 'iss-claim: apic' -H 'aud-claim: id1' "
            f"{url}/generate | tee /dev/stderr | tr -d '\\r' | sed -n 's/^[Aa]uthorization: //p' > /tmp/jwt_token"
        )
        self.stdout.write(
            f"curl -si -H 'X-IBM-Client-Id: {summary.client_id}' -H \"Authorization: $(cat /tmp/jwt_token)\" "
            f"{url}/validate"
        )
