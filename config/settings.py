"""Settings read from the environment (12-factor), with defaults that run with no services.

Without any variable the project runs on SQLite with a file-system Celery broker, so
``make run`` works on a bare machine. Production sets ``DJANGO_ENV=production`` plus
``DATABASE_URL``, ``CELERY_BROKER_URL``, ``DJANGO_SECRET_KEY`` and ``DJANGO_ALLOWED_HOSTS``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DANGOL_VAR_DIR", BASE_DIR / "var"))
# Uploaded member files (CSV/XLSX) wait here for their preview and import; every worker must see it.
DANGOL_IMPORT_DIR = Path(os.environ.get("DANGOL_IMPORT_DIR", VAR_DIR / "imports"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DANGOL_ENV = os.environ.get("DJANGO_ENV", "development")
PRODUCTION = DANGOL_ENV == "production"

DEBUG = env_bool("DJANGO_DEBUG", not PRODUCTION)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise RuntimeError("DJANGO_SECRET_KEY must be set in production")
    # A development-only key: never used when DJANGO_ENV=production.
    SECRET_KEY = "dev-insecure-" + "dangol-local-development-key-not-for-production-use"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "django_celery_beat",
    "auditlog",
    "axes",
    "members",
    "loyalty",
    "campaigns",
    "audit",
]

MIDDLEWARE = [
    "config.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "loyalty.api.cors.WidgetCorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.context.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'dangol.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# A database that accepts connections and never answers must not hold a request: connecting
# gives up after DB_CONNECT_TIMEOUT seconds (libpq's minimum is 2) and, in web processes only,
# a statement is cancelled after DB_STATEMENT_TIMEOUT_MS. config/wsgi.py marks the process as
# a web process (DANGOL_WEB_PROCESS=1) before the settings load; Celery workers, beat and
# management commands (imports, expiry, the audit) run long statements on purpose and get none.
DB_CONNECT_TIMEOUT = int(os.environ.get("DB_CONNECT_TIMEOUT", "2"))
DB_STATEMENT_TIMEOUT_MS = int(os.environ.get("DB_STATEMENT_TIMEOUT_MS", "3000"))
WEB_PROCESS = env_bool("DANGOL_WEB_PROCESS", False)
# PostgreSQL's JIT compiles any statement whose *estimated* cost passes jit_above_cost. The
# batch door's chunk statements (unnest arrays joined in CTEs: estimates in the millions) paid
# ~0.8 s of compilation per 10,000-member chunk, 40 % of a grant chunk, and no statement here
# runs long enough to earn it back (bench/README.md, "JIT"). DANGOL_DB_JIT=1 keeps the server's.
DB_JIT = env_bool("DANGOL_DB_JIT", False)
# The balance card is a server-side prepared statement on PostgreSQL (planned once per
# connection). Turn it off behind a pooler in transaction mode (PgBouncer), where a session's
# prepared statements do not follow the client.
DANGOL_PREPARED_STATEMENTS = env_bool("DANGOL_PREPARED_STATEMENTS", True)
# The dashboard's ledger index covers extra columns on PostgreSQL; SQLite builds it without them.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The same backend, with a health check that polls the socket instead of sending SELECT 1.
    DATABASES["default"]["ENGINE"] = "config.db.postgresql"
    if DANGOL_PREPARED_STATEMENTS:
        # Django's cursors bind on the client and never prepare; psycopg prepares only what
        # asks for it (loyalty.selectors.fetch_prepared), as long as this is not None.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 2**31 - 1)
    _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    _pg_options.setdefault("connect_timeout", DB_CONNECT_TIMEOUT)
    _session = [] if DB_JIT else ["-c jit=off"]
    if WEB_PROCESS and DB_STATEMENT_TIMEOUT_MS > 0:
        _session.append(f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS}")
    if _session:
        _pg_options["options"] = " ".join([_pg_options.get("options", ""), *_session]).strip()
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serialises writers; a generous timeout lets the worker and the web server share it.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes watches staff logins first: after AXES_FAILURE_LIMIT wrong passwords for one
# user name from one IP address, that pair is locked out for AXES_COOLOFF_TIME (the admin's
# login page answers 429 with a page in Korean or English). See audit/login_guard.py.
AUTHENTICATION_BACKENDS = [
    "audit.login_guard.StaffLoginGuardBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("DANGOL_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("DANGOL_LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "audit.login_guard.lockout_response"
# The client's address (API limits, login lockout, access log): see DANGOL_TRUSTED_PROXY_HOPS below.
AXES_CLIENT_IP_CALLABLE = "audit.login_guard.client_ip"

# django-auditlog: field-by-field changes of members, tiers, stores, rules, policy,
# adjustments and API keys (audit/tracking.py says which fields). Who and why are filled in
# by audit/context.py, never by auditlog's own middleware.
AUDITLOG_DISABLE_REMOTE_ADDR = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = os.environ.get("DJANGO_LANGUAGE_CODE", "ko")

# Notices to members (points expiring, tier drop) go through Django's mail backend.
EMAIL_BACKEND = os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
                               if not PRODUCTION else "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "no-reply@dangol.example")
LANGUAGES = [("ko", _("Korean")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "Asia/Seoul")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]

# Static files (the admin's, Swagger UI's, widget.js) are served by the app itself through
# WhiteNoise, so a shop can embed the widget straight from the loyalty server.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

LOGIN_URL = "admin:login"

# Bodies: an API request is a small JSON document (a purchase with 500 items is ~100 kB);
# the admin uploads files (member imports) and has its own, larger limit.
DANGOL_API_MAX_BODY_BYTES = int(os.environ.get("DANGOL_API_MAX_BODY_BYTES", str(1024 * 1024)))
DANGOL_ADMIN_UPLOAD_MAX_BYTES = int(os.environ.get("DANGOL_ADMIN_UPLOAD_MAX_BYTES", str(50 * 1024 * 1024)))
# Proxies in front of the app whose X-Forwarded-For may be believed (0: use REMOTE_ADDR only).
DANGOL_TRUSTED_PROXY_HOPS = int(os.environ.get("DANGOL_TRUSTED_PROXY_HOPS", "0"))
# Wrong API keys allowed per client address before it is refused (429) without a lookup.
DANGOL_AUTH_FAILURE_RATE = os.environ.get("DANGOL_AUTH_FAILURE_RATE", "20/min")

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["loyalty.api.parsers.SafeJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "loyalty.api.errors.api_exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Dangol API",
    "DESCRIPTION": "Loyalty points for the storefront, the POS and the balance widget.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the drf-spectacular-sidecar package: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "loyalty.api.schema.text_rules_hook",
    ],
}

# Caches hold API throttling state: Redis when REDIS_URL is set (shared by every worker),
# process memory otherwise.
REDIS_URL = os.environ.get("REDIS_URL", "")
# Redis that stalls must not stall requests: every call gives up after this many seconds, and
# the rate limiter then lets requests through without asking for REDIS_RETRY_SECONDS.
REDIS_TIMEOUT = float(os.environ.get("REDIS_TIMEOUT", "0.2"))
REDIS_RETRY_SECONDS = float(os.environ.get("REDIS_RETRY_SECONDS", "30"))
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
         "OPTIONS": {"socket_timeout": REDIS_TIMEOUT, "socket_connect_timeout": REDIS_TIMEOUT}}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Celery: a broker that needs no server by default (files under var/), Redis in production.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery-queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "control_folder": str(VAR_DIR / "celery-control"),
    }
# /health/ asks the broker with this bound on connecting and on each read (seconds).
BROKER_HEALTH_TIMEOUT = float(os.environ.get("BROKER_HEALTH_TIMEOUT", "1"))
# A message a worker took and never acknowledged (the worker was killed) goes back to the queue
# after this many seconds. Celery's default is an hour; it must stay longer than the longest
# chunk (a chunk still running when it lapses is delivered again, and the chunk lock makes that
# second delivery leave at once). Redis and SQS read it; tests set a few seconds.
CELERY_VISIBILITY_TIMEOUT = int(os.environ.get("DANGOL_CELERY_VISIBILITY_TIMEOUT", "300"))
def celery_transport_options(visibility_timeout: int) -> dict[str, object]:
    """Redis's unacknowledged messages are swept back every few seconds (kombu's default sweep
    is interval × throttle = 100 s, which would add minutes to a short visibility timeout)."""
    return {"visibility_timeout": visibility_timeout,
            "unacked_restore_interval": max(1, min(10, visibility_timeout // 5)), "unacked_restore_throttle": 1}


if not CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = celery_transport_options(CELERY_VISIBILITY_TIMEOUT)
# Publishing from a request (the outbox right after a commit) gives up after this many seconds:
# a broker that is down delays the work (the outbox keeps it), never the request.
BROKER_PUBLISH_TIMEOUT = float(os.environ.get("BROKER_PUBLISH_TIMEOUT", "1"))
# Batch work is split into chunks of this many ids (members or accounts), one Celery task each.
DANGOL_CHUNK_SIZE = int(os.environ.get("DANGOL_CHUNK_SIZE", "10000"))
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
# Acknowledge after the work, and put the message back when the worker dies under it (kill -9,
# OOM): with acks_late alone Celery acknowledges a task whose worker was lost.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
