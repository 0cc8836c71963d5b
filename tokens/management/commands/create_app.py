"""Create a consumer app with a client id (and optionally a secret, shown once) in a catalog."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from portal.commands import PortalCommand
from tokens import services
from tokens.models import Publication


class Command(PortalCommand):
    help = (
        "Create a consumer app in a catalog, subscribed to every API served there. "
        "With --with-secret a client secret is generated and shown once; only its hash is stored."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="App name.")
        parser.add_argument("--catalog", required=True, help="Catalog slug or title, e.g. sandbox.")
        self.add_org_argument(parser)
        parser.add_argument("--with-secret", action="store_true", help="Also generate a client secret.")
        parser.add_argument("--no-subscribe", action="store_true", help="Do not subscribe it to served APIs.")
        parser.add_argument("--json", action="store_true", help="Print the credentials as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = self.organization(options["org"])
        catalog = self.catalog(organization, options["catalog"])
        with self.refused("App not created: "):
            app, secret = services.app_create(
                catalog=catalog, name=options["name"], with_secret=options["with_secret"], actor=self.actor
            )
        subscribed: list[str] = []
        if not options["no_subscribe"]:
            for publication in Publication.objects.filter(catalog=catalog).exclude(state=Publication.State.RETIRED):
                services.app_subscribe(app=app, publication=publication, actor=self.actor)
                subscribed.append(str(publication.api))
        if options["json"]:
            data = {
                "name": app.name,
                "catalog": str(catalog),
                "client_id": app.client_id,
                "subscriptions": subscribed,
            }
            if secret:
                data["client_secret"] = secret
            self.write_json(data)
            return
        self.stdout.write(self.style.SUCCESS(f"Created app '{app.name}' in {catalog}."))
        self.stdout.write(f"  client id:     {app.client_id}")
        if secret:
            self.stdout.write(self.style.WARNING(f"  client secret: {secret}  (shown once; only its hash is kept)"))
        for name in subscribed:
            self.stdout.write(f"  subscribed to: {name}")
