"""WSGI entry point for the benchmark: ``gunicorn -c gunicorn.conf.py bench.wsgi``, with bench.settings."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
application = get_wsgi_application()

# Import the URL conf now, so that with gunicorn's preload_app the reference key is made once, before the
# fork, and every worker verifies the tokens any worker signed.
import bench.urls  # noqa: E402, F401
