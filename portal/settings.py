"""Settings for the key-profile and token portal, read from the environment.

Two modes, chosen by ``PORTAL_MODE``:

* ``development`` (default): DEBUG on, SQLite under ``var/``, the local-memory cache, and a local master
  key file under ``var/`` that is created on first use with a warning.
* ``production``: DEBUG off, ``SECRET_KEY`` and ``PORTAL_MASTER_KEYS`` required (the process refuses to
  start without them), secure cookies, HSTS and HTTPS redirects, so that ``manage.py check --deploy`` is
  clean.

Every variable is listed in README.md, "Configuration".
"""

from datetime import timedelta
from pathlib import Path
from typing import Any, cast

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
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
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
# WSGI only: portal/wsgi.py sends gateway calls through the gateway handler, which isolates their answers from
# the console (DESIGN.md section 6). There is deliberately no ASGI entry point that would bypass it.
WSGI_APPLICATION = "portal.wsgi.application"

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

# The REST API under /api/v1/ (portal/api/__init__.py). Bearer first: a request without credentials answers 401
# with "WWW-Authenticate: Bearer". The default permission is the strictest role, so a view that forgets to
# choose is closed rather than open.
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.authentication.BearerApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.permissions.IsOperator"],
    "DEFAULT_THROTTLE_CLASSES": ["portal.api.throttling.RoleRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["portal.api.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "portal.api.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.Pagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "portal.api.schema.PortalAutoSchema",
    "EXCEPTION_HANDLER": "portal.api.problems.problem_exception_handler",
    "DEFAULT_METADATA_CLASS": "portal.api.metadata.OperationsMetadata",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Requests per role and period, shared by every process through the cache; "none" is unlimited.
PORTAL_API_RATES = env.str("PORTAL_API_RATES", default="operator=600/min,auditor=600/min,signer=6000/min")
# The secret API key digests are keyed with (portal/apikeys.py); empty: derived from SECRET_KEY.
PORTAL_API_KEY_SECRET = env.str("PORTAL_API_KEY_SECRET", default="")
# How processes follow configuration changes, and the gateway runtime's tunables (docs/scale.md, "Settings"):
# checked dictionaries, empty for the defaults.
PORTAL_INVALIDATION: dict[str, Any] = {}
TOKENS_GATEWAY: dict[str, Any] = {}
# The bearer token a Prometheus scrape of /metrics sends (docs/metrics.md); empty: /metrics is off (404).
PORTAL_METRICS_TOKEN = env.str("PORTAL_METRICS_TOKEN", default="")

SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "Key-profile and token portal API",
    "DESCRIPTION": "Keystores, key profiles, catalogs, the token service and the audit log (DESIGN.md 4a). "
    "Errors are RFC 9457 problem documents (application/problem+json) with a stable `code`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ApiKeyRoleEnum": "portal.models.ApiKey.Role",
        "ApiKeyStateEnum": ["active", "expired", "revoked"],
        "KeyVersionStateEnum": "keyprofiles.models.KeyProfileBinding.State",
        "KeystoreKindEnum": "keyprofiles.models.Keystore.Kind",
        # Named before a second "source" field (an API property's) came; kept so clients' generated names hold.
        "SourceEnum": "keyprofiles.models.Keystore.Source",
        "CertificateHolderEnum": ["keystore", "truststore"],
    },
}

KEYPROFILES = {
    "MASTER_KEYS": env.str("PORTAL_MASTER_KEYS", default=""),
    "ACTIVE_MASTER_KEY_ID": env.str("PORTAL_MASTER_KEY_ID", default=""),
    # Development only: a local key ring file created on first use (never in production).
    "MASTER_KEY_FILE": "" if PRODUCTION else str(VAR_DIR / "master.key"),
}
# The tokens resources' enums (kept apart from the dict above so each app's names merge without conflict).
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]["PublicationStateEnum"] = "tokens.models.Publication.State"
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]["ApiPropertySourceEnum"] = "tokens.properties.PropertySource"
# Path parameters are described as the URL converters match them, so a client (or Schemathesis) that follows
# the schema always reaches the route it means rather than the /api/ 404.
SPECTACULAR_SETTINGS["PATH_CONVERTER_OVERRIDES"] = {
    "slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"},
    "int": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
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
        # Django's own format for the development server's request lines (django.utils.log.DEFAULT_LOGGING).
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "filters": {"no_query_strings": {"()": "portal.log_filters.StripQueryStrings"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT},
        # The gateway's line per call: a JSON object of its own shape, formatted and written by a listener
        # thread off the request path, never dropped (portal/gateway_log.py).
        "gateway_calls": {"()": "portal.gateway_log.QueuedCallHandler"},
        "django.server": {"level": "INFO", "class": "logging.StreamHandler", "formatter": "django.server"},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # The gateway's lines (its warnings, and the line per call below): the line per call is on at INFO,
        # the default in production; development keeps it quiet unless asked for.
        "tokens.gateway": {"level": env.str("GATEWAY_LOG_LEVEL", default="INFO" if PRODUCTION else "WARNING")},
        "tokens.gateway.calls": {"handlers": ["gateway_calls"], "propagate": False},
        # runserver's request lines (`make run`), as Django configures them, without query strings: a refused
        # ?client_secret=... must not land in the development log.
        "django.server": {
            "handlers": ["django.server"],
            "level": "INFO",
            "propagate": False,
            "filters": ["no_query_strings"],
        },
    },
}

# -- The console's own defences (issue 9; docs/security.md) -----------------------------------------------
# Login throttling (django-axes): after PORTAL_LOGIN_FAILURE_LIMIT failures for one user name from one client
# address, that pair is refused until PORTAL_LOGIN_COOLOFF_MINUTES pass without another attempt. Attempts are
# counted in the database, so every process and node sees the same count. Failures, lock-outs and successes
# become audit events (portal.console.audit_login_*). Unlock by hand: `manage.py axes_reset_username NAME`.
INSTALLED_APPS += ["axes", "csp"]
# AxesMiddleware turns a lock-out into the lock-out page; its documentation wants it last.
MIDDLEWARE += ["csp.middleware.CSPMiddleware", "axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("PORTAL_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("PORTAL_LOGIN_COOLOFF_MINUTES", default=15))
# User name and address together: a wrong password from elsewhere cannot lock a user out of their own desk.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Behind load balancers every login would come from the balancer's address: name how many append to
# X-Forwarded-For, and the address they saw is counted instead (portal.console.login_client_address).
PORTAL_TRUSTED_PROXIES = env.int("PORTAL_TRUSTED_PROXIES", default=0)
AXES_CLIENT_IP_CALLABLE = "portal.console.login_client_address"
AXES_LOCKOUT_CALLABLE = "portal.console.login_lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # successful logins are audit events already
# The audit log is the record of every login; axes' own INFO lines would repeat it on every sign-in.
AXES_VERBOSE = False
cast(dict[str, Any], LOGGING["loggers"])["axes"] = {"level": "WARNING"}

# Error pages and reports of requests that carry key material or passwords show none of it, in development
# too (portal.console.receives_secrets marks those views).
DEFAULT_EXCEPTION_REPORTER_FILTER = "portal.console.ConsoleExceptionReporterFilter"

# The console's Content-Security-Policy (django-csp): scripts and styles only from the portal's own static
# files (templates/admin and portal/static/console have no inline script, handler or style attribute), no
# plug-ins, no framing, forms post only to the portal. Gateway answers carry their own, stricter policy.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# gatewayscript policies (tokens/gatewayscript.py): per-call limits of the JavaScript sandbox.
GATEWAYSCRIPT = {
    "CPU_MS": env.int("PORTAL_GATEWAYSCRIPT_CPU_MS", default=50),
    "MEMORY_MIB": env.int("PORTAL_GATEWAYSCRIPT_MEMORY_MIB", default=32),
    "MAX_SCRIPTS_PER_API": env.int("PORTAL_GATEWAYSCRIPT_MAX_SCRIPTS_PER_API", default=32),
    "ENGINES_PER_THREAD": env.int("PORTAL_GATEWAYSCRIPT_ENGINES_PER_THREAD", default=128),
}

# invoke policies (tokens/egress.py): the destinations an API may call and the bounds of each call.
# PORTAL_INVOKE_ALLOW: comma-separated host names, host:port, IP addresses and CIDRs; empty allows none.
INVOKE = {
    "ALLOW": env.str("PORTAL_INVOKE_ALLOW", default=""),
    "MAX_TIMEOUT_SECONDS": env.int("PORTAL_INVOKE_MAX_TIMEOUT_SECONDS", default=60),
    "MAX_RESPONSE_KIB": env.int("PORTAL_INVOKE_MAX_RESPONSE_KIB", default=4096),
    # cache-response: the responses kept per process (0 entries: none).
    "CACHE_ENTRIES": env.int("PORTAL_INVOKE_CACHE_ENTRIES", default=512),
    "CACHE_KIB": env.int("PORTAL_INVOKE_CACHE_KIB", default=16384),
}
