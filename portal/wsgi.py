"""WSGI entry point: ``gunicorn -c gunicorn.conf.py portal.wsgi``.

Gateway calls go through a short middleware list, console pages through the full one (portal/handlers.py).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
console_application = get_wsgi_application()  # sets Django up

from portal.handlers import GatewayHandler, dispatching_application  # noqa: E402 - needs Django set up

application = dispatching_application(console_application, GatewayHandler())
