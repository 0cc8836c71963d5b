"""What the tokens app's management commands share beyond ``portal.commands``: finding an API version."""

from __future__ import annotations

from django.core.management.base import CommandError

from portal.commands import PortalCommand
from portal.models import Organization
from tokens.models import Api


def _version_key(api: Api) -> tuple[int, ...]:
    return tuple(int(part) for part in api.version.split("."))


class ApiCommand(PortalCommand):
    def api(self, organization: Organization, reference: str, version: str | None) -> Api:
        """The API named or titled ``reference`` in ``organization``: the given version, else the highest.

        Raises CommandError naming close matches when no API is so named, or the versions there are when
        the given version is not one of them.
        """
        versions = sorted(
            self.find(Api.objects, reference, organization=organization, what="API", fields=("name", "title")),
            key=_version_key,
        )
        if version is None:
            return versions[-1]
        for api in versions:
            if api.version == version:
                return api
        known = ", ".join(api.version for api in versions)
        raise CommandError(f"No version {version} of API '{versions[0].name}' (versions: {known}).")
