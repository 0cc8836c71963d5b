"""Settings for the key-profile and token portal, read from the environment.

Two modes, chosen by ``PORTAL_MODE``:

* ``development`` (default): DEBUG on, SQLite under ``var/``, the local-memory cache, and a local master
  key file under ``var/`` that is created on first use with a warning.
* ``production``: DEBUG off, ``SECRET_KEY`` and ``PORTAL_MASTER_KEYS`` required (the process refuses to
  start without them), secure cookies, HSTS and HTTPS redirects, so that ``manage.py check --deploy`` is
  clean.

Every variable is listed in README.md, "Configuration".
"""

from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

PORTAL_MODE = env.str("PORTAL_MODE", default="development")
if PORTAL_MODE not in {"development", "production"}:
    raise ImproperlyConfigured(f"PORTAL_MODE must be 'development' or 'production', not {PORTAL_MODE!r}.")
PRODUCTION = PORTAL_MODE == "production"

if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("Production mode needs SECRET_KEY: a random string of at least 50 characters.")
    if not env.str("PORTAL_MASTER_KEYS", default=""):
        raise ImproperlyConfigured(
            "Production mode needs PORTAL_MASTER_KEYS (key id to 32-byte base64 key, e.g. 'k1:BASE64'); "
            "private keys cannot be sealed without it."
        )
    DEBUG = env.bool("DEBUG", default=False)
else:
    SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-development-only-key-not-for-production-use")
    DEBUG = env.bool("DEBUG", default=True)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
# The gateway's own host names (README, "Running in production"): when set, gateway paths are served only on
# them and console paths never (portal/handlers.py), so no gateway answer shares an origin with the console.
PORTAL_GATEWAY_HOSTS = [host.strip().lower().removesuffix(".") for host in env.list("PORTAL_GATEWAY_HOSTS", default=[])]
ALLOWED_HOSTS += [host for host in PORTAL_GATEWAY_HOSTS if host not in ALLOWED_HOSTS]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "portal",
    "keyprofiles",
    "tokens",
]

MIDDLEWARE = [
    "portal.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Gateway calls (/{org}/{catalog}/...) skip the console's session, user, message and CSRF middleware: they
# authenticate by client id. Their handler (portal/handlers.py) gives them the request id and what
# SecurityMiddleware would (HTTPS redirect, HSTS...) in its own path, so by default no middleware runs at all.
GATEWAY_MIDDLEWARE: list[str] = []

ROOT_URLCONF = "portal.urls"
# What the gateway's handler resolves: gateway paths only, so it can never serve a console page.
GATEWAY_URLCONF = "tokens.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")}
if "DATABASE_URL" not in env:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A busy timeout keeps concurrent writers (a rotation while requests run) from failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://portal")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # Fail fast when Redis is away: callers fall back to the database (portal.invalidation), they never hang.
    CACHES["default"].setdefault("OPTIONS", {}).update({"socket_connect_timeout": 0.5, "socket_timeout": 0.5})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
if not PRODUCTION:
    # collectstatic fills it in production; in development whitenoise serves from the apps and wants it to exist.
    STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Uploads above 1 MiB are refused by the key-material checks; Django keeps them in memory up to this size.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}

KEYPROFILES = {
    "MASTER_KEYS": env.str("PORTAL_MASTER_KEYS", default=""),
    "ACTIVE_MASTER_KEY_ID": env.str("PORTAL_MASTER_KEY_ID", default=""),
    # Development only: a local key ring file created on first use (never in production).
    "MASTER_KEY_FILE": "" if PRODUCTION else str(VAR_DIR / "master.key"),
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # One JSON object per line; extra fields become keys. Callers never pass tokens, secrets or keys.
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT},
        # The gateway's line per call: a JSON object of its own shape, formatted and written by a listener
        # thread off the request path, never dropped (portal/gateway_log.py).
        "gateway_calls": {"()": "portal.gateway_log.QueuedCallHandler"},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # The gateway's lines (its warnings, and the line per call below): the line per call is on at INFO,
        # the default in production; development keeps it quiet unless asked for.
        "tokens.gateway": {"level": env.str("GATEWAY_LOG_LEVEL", default="INFO" if PRODUCTION else "WARNING")},
        "tokens.gateway.calls": {"handlers": ["gateway_calls"], "propagate": False},
    },
}
