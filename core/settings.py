"""OneTable settings: everything comes from the environment (see README, "Configuration")."""

from pathlib import Path

from celery.schedules import crontab
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from core.env import env_bool, env_choice, env_database, env_int, env_list, env_redis, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", required=True)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
DATA_DIR = Path(env_str("ONETABLE_DATA_DIR", str(BASE_DIR / "var")) or "")

# Behind TLS (production) every cookie is secure and HTTP is redirected; the local
# demo run serves plain HTTP on loopback and sets HTTPS=0.
HTTPS = env_bool("HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = HTTPS and env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env_bool("BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "core",
    "reporting",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "core.middleware.RequireLength",  # before anything reads a body (CSRF reads a form's)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.replica.PrimaryForWrites",  # a request that may write reads its own writes
    "django.contrib.messages.middleware.MessageMiddleware",
    "core.middleware.RejectUnstorableText",  # after auth: its refusal is a page like the others
    "core.middleware.ExplainMethodNotAllowed",  # after auth: the 405 page has the role's navigation
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

# Intranets are offline and a page must not leak who reads what to another host: the browser itself refuses
# anything not served by OneTable (a vendored script's hard-coded logo or font, a pasted link's image).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.UNSAFE_INLINE],  # the chart's and forms' small inline scripts
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],  # htmx and Redoc add inline styles
    "img-src": [CSP.SELF, "data:", "blob:"],
    "font-src": [CSP.SELF, "data:"],
    "worker-src": [CSP.SELF, "blob:"],  # Redoc's search worker
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
}

ROOT_URLCONF = "core.urls"
WSGI_APPLICATION = "core.wsgi.application"

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

DATABASES = {"default": env_database("DATABASE_URL")}
# Keep connections open between requests and tasks (checked before reuse): a new PostgreSQL backend per
# request or per delivery task cost more than the work itself (docs/benchmarks.md: issue 7, connections).
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 300, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# DATABASE_POOLER=pgbouncer: DATABASE_URL names a PgBouncer in transaction mode (README, "Behind PgBouncer"), where
# each transaction may run on another server connection. Nothing OneTable keeps on a session outlives a
# transaction: locks held across transactions are taken on a connection of their own (core/locks.py), settings
# are the transaction's (`set_config(…, true)`, `SET LOCAL`), temporary tables are dropped on commit, and
# server-side cursors are read inside one transaction (reporting.reads.data.rows refuses otherwise), so they stay
# on and exports keep streaming in constant memory (DISABLE_SERVER_SIDE_CURSORS would read every row at once).
DATABASE_POOLER = env_choice("DATABASE_POOLER", ["", "pgbouncer"])
# Bind parameters on the server and let psycopg prepare a statement from its fifth use on a connection:
# PostgreSQL then plans each of the filing's statements once per connection instead of on every request
# (planning them cost more than running them: docs/benchmarks.md, third round). Off
# (DB_PREPARED_STATEMENTS=0: client-side binding, nothing prepared) behind a pooler in transaction mode
# that cannot keep prepared statements: the default with DATABASE_POOLER=pgbouncer (PgBouncer before 1.21, or
# without max_prepared_statements; set DB_PREPARED_STATEMENTS=1 with one that has it).
if env_bool("DB_PREPARED_STATEMENTS", not DATABASE_POOLER):
    DATABASES["default"].setdefault("OPTIONS", {}).update(prepare_threshold=5, server_side_binding=True)
# A streaming replica of the primary (optional): data pages, exports, charts, roll-ups and the DHIS2 face read
# from it, everything else and every write (the access records of those reads too) goes to the primary
# (core/replica.py). Without it there is no second alias at all, so every read is on the primary as before.
if env_str("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = env_database("DATABASE_REPLICA_URL")
    DATABASES["replica"].update(CONN_MAX_AGE=DATABASES["default"]["CONN_MAX_AGE"], CONN_HEALTH_CHECKS=True)
    if env_bool("DB_PREPARED_STATEMENTS", True):
        DATABASES["replica"].setdefault("OPTIONS", {}).update(prepare_threshold=5, server_side_binding=True)
    # tests make no database for it: it reads the test database (through its own connection, so only what a
    # test has committed; run the suite without DATABASE_REPLICA_URL)
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["core.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# No forced re-login: a session lasts two weeks of inactivity (rule against forced-login features).
SESSION_COOKIE_AGE = 14 * 24 * 3600

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_MIMETYPES = {".webmanifest": "application/manifest+json"}  # the installable app's manifest
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

REDIS_URL = env_redis("REDIS_URL")
# With sentinels in REDIS_URL, the name of the master they watch: Celery (kombu's sentinel transport) and every
# other Redis client (core/broker.py) ask them for its address, and follow a failover.
REDIS_SENTINEL_MASTER = env_str("REDIS_SENTINEL_MASTER", required=REDIS_URL.startswith("sentinel://"))
CELERY_BROKER_URL = REDIS_URL
# Celery's Django fixup closes the database connection around every task unless told to reuse it; core/celery.py
# closes it only when Django would (CONN_MAX_AGE, health checks).
CELERY_DB_REUSE_MAX = 2**62
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
if REDIS_URL.startswith("sentinel://"):
    CELERY_BROKER_TRANSPORT_OPTIONS["master_name"] = REDIS_SENTINEL_MASTER
CELERY_TIMEZONE = TIME_ZONE
# Publishing must not hang a request when Redis is down: the outbox row is the truth and the sweep re-sends.
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# How long a Redis command (the send flags, the health page's ping) may wait for an answer. Filings never
# wait for it: they hand their notification to a thread (reporting.services.deliveries._Notifier).
REDIS_SOCKET_TIMEOUT = env_int("REDIS_SOCKET_TIMEOUT", 2, minimum=1)
# While PostgreSQL is unreachable every request is answered 503 with this Retry-After (seconds).
ONETABLE_RETRY_AFTER_SECONDS = env_int("ONETABLE_RETRY_AFTER_SECONDS", 10, minimum=1)
# Deliveries per webhook request; how long a worker's hold on an endpoint lasts unless renewed (it renews a
# third of the way through while its request lasts, so a dead worker's endpoint resumes after this plus the
# sweep's interval); and the wall-clock limit of one webhook request, connecting to reading the whole answer.
ONETABLE_DELIVERY_BATCH = env_int("ONETABLE_DELIVERY_BATCH", 200, minimum=1)
ONETABLE_DELIVERY_LEASE_SECONDS = env_int("ONETABLE_DELIVERY_LEASE_SECONDS", 6, minimum=1)
ONETABLE_WEBHOOK_DEADLINE_SECONDS = env_int("ONETABLE_WEBHOOK_DEADLINE_SECONDS", 10, minimum=1)
# Versions the relay turns into deliveries per transaction (about 30 rows each at a province's deadline).
ONETABLE_RELAY_BATCH = env_int("ONETABLE_RELAY_BATCH", 100, minimum=1)
# Zombie check: a subscription with no delivery received and no read for this many months is flagged,
# and ended after the grace period unless its department confirms it with a reason.
ONETABLE_ZOMBIE_MONTHS = env_int("ONETABLE_ZOMBIE_MONTHS", 3, minimum=1)
ONETABLE_ZOMBIE_GRACE_DAYS = env_int("ONETABLE_ZOMBIE_GRACE_DAYS", 30, minimum=0)
# A new demand whose first period leaves units less notice than this is flagged in review.
ONETABLE_MIN_LEAD_DAYS = env_int("ONETABLE_MIN_LEAD_DAYS", 15, minimum=0)
# The audit chain's newest seal is appended to this file as well as logged (core/audit.py).
ONETABLE_AUDIT_SEAL_LOG = env_str("ONETABLE_AUDIT_SEAL_LOG", str(DATA_DIR / "audit" / "seals.jsonl"))
# A ledger record may be dated this many days after today (planned activities); 0: not after today.
ONETABLE_LEDGER_LEAD_DAYS = env_int("ONETABLE_LEDGER_LEAD_DAYS", 0, minimum=0)
# how many days an office's unlock of a locked period holds (issue 22): long enough for a late filing or a
# correction, short enough that the lock comes back by itself
ONETABLE_UNLOCK_DAYS = env_int("ONETABLE_UNLOCK_DAYS", 7, minimum=1)
# An aggregate covering fewer reported units than this is suppressed (reporting/reads/rollups.py).
ONETABLE_MIN_CELL = env_int("ONETABLE_MIN_CELL", 3, minimum=2)
# Access records are kept this many full months before the current one, then their month is detached and dropped
# (`manage.py detach_access_records`, reporting/services/partitions.py); six months is the Cybersecurity Law's floor.
ONETABLE_ACCESS_RETENTION_MONTHS = env_int("ONETABLE_ACCESS_RETENTION_MONTHS", 36, minimum=6)

# One beat process: its intervals and the 02:00 check run on its own clock alone, which nothing else compares;
# every job below is safe to run a little early or late, or twice (core/clock.py, docs/architecture.md).
CELERY_BEAT_SCHEDULE = {
    # partitions made ahead of time (reporting/partitions.py): a DEFAULT partition catches what a stopped beat missed
    "create-partitions": {"task": "reporting.tasks.create_partitions_task", "schedule": crontab(hour=1, minute=30)},
    "zombie-check": {"task": "reporting.tasks.zombie_check_task", "schedule": crontab(hour=2, minute=0)},
    "sweep-outbox": {"task": "reporting.tasks.sweep_outbox_task", "schedule": env_int("OUTBOX_SWEEP_SECONDS", 5)},
    # report templates generated once a period's coverage passes the department's level (reporting/services/reports)
    "auto-reports": {"task": "reporting.tasks.auto_reports_task", "schedule": env_int("REPORT_SWEEP_SECONDS", 600)},
    "seal-audit": {"task": "core.tasks.seal_audit_task", "schedule": env_int("AUDIT_SEAL_SECONDS", 5, minimum=1)},
    # aggregate pushes owed (a roll-up per pushing subscription): a lost after-filing check only delays them
    "check-aggregate-pushes": {
        "task": "reporting.tasks.check_aggregate_pushes_task",
        "schedule": env_int("AGGREGATE_PUSH_CHECK_SECONDS", 300, minimum=5),
    },
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.tokens.BearerTokenAuthentication",
        "core.tokens.SessionAuthentication",
    ],
    "EXCEPTION_HANDLER": "reporting.api.error_handlers.api_exception_handler",
    "DEFAULT_PARSER_CLASSES": ["reporting.api.parsers.JSONParser"],  # JSON only; strings checked storable
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "URL_FORMAT_OVERRIDE": None,  # `format` is OneTable's own parameter (json or csv), not DRF's renderer switch
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Per token (or per signed-in user): one noisy system cannot starve the others.
    "DEFAULT_THROTTLE_CLASSES": ["core.tokens.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": env_str("API_RATE", "600/min")},
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OneTable (一表通) API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # 3.1: the webhooks OneTable posts are documented beside the paths (`webhooks`, which 3.0 has not)
    "OAS_VERSION": "3.1.0",
    "WEBHOOKS": [
        "reporting.api.schemas.DELIVERIES_WEBHOOK",
        "reporting.api.schemas.DISPUTE_WEBHOOK",
        "reporting.api.schemas.AGGREGATE_WEBHOOK",
    ],
    # Swagger UI and Redoc from the sidecar package: served by OneTable itself, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # the system's fonts: Redoc's own (Roboto, Montserrat) would come from the internet
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {"fontFamily": "system-ui, sans-serif", "headings": {"fontFamily": "system-ui, sans-serif"}}
        }
    },
    # several answers have a `status`, each with its own choices: each set gets its own name in the schema
    "ENUM_NAME_OVERRIDES": {
        "DisputeStatusEnum": ["open", "corrected", "stands"],
        "JobStatusEnum": ["queued", "running", "done", "failed"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "reporting.api.schemas.add_common_errors",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
