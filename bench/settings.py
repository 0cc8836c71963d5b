"""The portal's settings plus the benchmark's reference endpoints (bench/urls.py); never used in production."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
