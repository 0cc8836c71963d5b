"""WSGI entry point for the benchmark: ``gunicorn -c gunicorn.conf.py bench.wsgi``, with bench.settings.

Gateway calls take the product's own path (portal/wsgi.py: the short gateway middleware list); the reference
views under ``/bench/`` run through the full middleware stack, as views of a typical Django project do.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
console_application = get_wsgi_application()

# Import the URL conf now, so that with gunicorn's preload_app the reference key is made once, before the
# fork, and every worker verifies the tokens any worker signed.
import bench.urls  # noqa: E402, F401
from portal.handlers import GatewayHandler, dispatching_application, is_gateway_path  # noqa: E402

application = dispatching_application(
    console_application,
    GatewayHandler(),
    is_gateway=lambda path: is_gateway_path(path) and not path.startswith("/bench/"),
)
