"""Revoke an API key: every process refuses it within seconds."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from portal import services
from portal.commands import PortalCommand
from portal.models import ApiKey


class Command(PortalCommand):
    help = "Revoke an API key by name; idempotent. Every process refuses it within seconds."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="Key name.")
        self.add_org_argument(parser, required=True, help="Organization slug.")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = self.organization(options["org"])
        key = ApiKey.objects.filter(organization=organization, name=options["name"]).first()
        if key is None:
            raise CommandError(f"No API key '{options['name']}' in organization '{organization.slug}'.")
        services.api_key_revoke(key=key, actor=self.actor)
        self.stdout.write(self.style.SUCCESS(f"Revoked API key '{key.name}' in {organization.slug}."))
