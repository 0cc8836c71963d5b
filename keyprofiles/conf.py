"""The ``KEYPROFILES`` settings namespace, read through one checked object (``portal.conf.AppSettings``).

Unknown names and values of the wrong type are refused (a typo must not silently fall back to a default), and
the object reloads when tests override settings.
"""

from __future__ import annotations

from typing import Any

from portal.conf import AppSettings

DEFAULTS: dict[str, Any] = {
    # "id:base64key,id2:base64key": 32-byte AES-256-GCM master keys. The first is active unless
    # ACTIVE_MASTER_KEY_ID names another.
    "MASTER_KEYS": "",
    "ACTIVE_MASTER_KEY_ID": "",
    # Development only: a local key ring file, created with a warning when MASTER_KEYS is empty.
    "MASTER_KEY_FILE": "",
    # Certificates expiring within this many days are flagged by check_key_expiry and the console.
    "EXPIRY_WARNING_DAYS": 30,
    "EXPIRY_NOTICE_DAYS": 90,
    # A PKCS#12 file is opened in a child process with these limits (keymaterial.pkcs12_child). Opening a usual
    # file takes about 0.07 s of CPU there (after about 0.2 s to start it); the RSA consistency check the
    # loader runs takes 0.04 s for a 2048-bit key and 0.3 s for 4096 bits, but 4 s for 8192 bits, hence a
    # second budget, which counts the start too, for a file whose key is larger than 4096 bits.
    "PKCS12_CPU_SECONDS": 2.0,
    "PKCS12_LARGE_KEY_CPU_SECONDS": 10,
    "PKCS12_MEMORY_BYTES": 256 * 1024 * 1024,  # the child peaks near 40 MiB
    "PKCS12_WALL_SECONDS": 20,  # a backstop for a child that stalls; below gunicorn's 30 s worker timeout
}

keyprofiles_settings = AppSettings("KEYPROFILES", DEFAULTS)
