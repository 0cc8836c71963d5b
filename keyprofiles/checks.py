"""System checks for key material configuration (``manage.py check``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from keyprofiles.conf import keyprofiles_settings
from keyprofiles.sealing import MasterKeyRing


@register(Tags.security)
def check_master_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """keyprofiles.E001: the master key ring does not parse; E002: no ring where one is needed.

    Development with a local key file passes: the file's creation is announced once, when it happens."""
    text = keyprofiles_settings.MASTER_KEYS
    if text:
        try:
            MasterKeyRing.parse(text, keyprofiles_settings.ACTIVE_MASTER_KEY_ID)
        except ImproperlyConfigured as e:
            return [Error(str(e), hint="PORTAL_MASTER_KEYS reads 'id:base64,id2:base64'.", id="keyprofiles.E001")]
        return []
    if getattr(settings, "PRODUCTION", False):
        return [
            Error(
                "PORTAL_MASTER_KEYS is not set in production: private keys cannot be sealed.",
                hint="Set PORTAL_MASTER_KEYS to 'id:base64' with a 32-byte random key.",
                id="keyprofiles.E002",
            )
        ]
    if keyprofiles_settings.MASTER_KEY_FILE:
        return []
    return [Error("No master key ring is configured.", hint="Set PORTAL_MASTER_KEYS.", id="keyprofiles.E002")]
