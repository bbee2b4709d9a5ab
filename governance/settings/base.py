"""Settings shared by every environment; values come from the environment (12-factor)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("MG_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

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
    "guardian",
    "django_htmx",
    "axes",
    "core",
    "governance",
    "registry",
    "validation",
    "serving",
]

MIDDLEWARE = [
    "core.middleware.ApiJsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "core.middleware.RequestIdMiddleware",
    "core.middleware.RequestRefusalsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "governance.urls"
WSGI_APPLICATION = "governance.wsgi.application"
ASGI_APPLICATION = "governance.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "governance.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; IMMEDIATE transactions take the write lock at BEGIN
    # (a reader that later writes cannot deadlock on the upgrade, which SQLite does not retry), and the busy timeout
    # rides out other writers; past it, core.busy answers 503 with Retry-After.
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "timeout": env.int("MG_SQLITE_BUSY_TIMEOUT", default=20), "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    })
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "governance.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses locked-out accounts and addresses before any password check
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
    "core.rules.RuleBackend",
]
LOGIN_URL = "login"
# Login throttling (django-axes), counted in the database so every web process and replica sees the same
# failures: past the limit an account, and separately a client address, is locked out for the cool-off time.
AXES_FAILURE_LIMIT = env.int("MG_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("MG_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username"], ["ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "governance.accounts.lockout.locked_out_page"
AXES_VERBOSE = False
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
ANONYMOUS_USER_NAME = None  # guardian: anonymous users get no object permissions
GUARDIAN_RAISE_403 = False

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ru", _("Russian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MG_MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
FILE_UPLOAD_TEMP_DIR = None
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # larger uploads stream to a temporary file, never whole into memory
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- Product settings -------------------------------------------------------------------------
MG_MAX_ARTIFACT_BYTES = env.int("MG_MAX_ARTIFACT_BYTES", default=500 * 1024 * 1024)
MG_MAX_DATASET_BYTES = env.int("MG_MAX_DATASET_BYTES", default=2 * 1024 * 1024 * 1024)
MG_MAX_UPLOAD_BYTES = env.int("MG_MAX_UPLOAD_BYTES", default=100 * 1024 * 1024)  # reports, evidence, attachments
FILE_UPLOAD_HANDLERS = [
    "core.uploads.SizeLimitUploadHandler",  # refuses on the declared length, before reading (core/uploads.py)
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
MG_ALLOWED_OPERATOR_DOMAINS = env.list("MG_ALLOWED_OPERATOR_DOMAINS", default=["", "ai.onnx", "ai.onnx.ml"])
MG_PRODUCTION_ALIASES = env.list("MG_PRODUCTION_ALIASES", default=["champion", "production"])
MG_TOKEN_DEFAULT_TTL_DAYS = env.int("MG_TOKEN_DEFAULT_TTL_DAYS", default=90)
MG_TOKEN_MAX_TTL_DAYS = env.int("MG_TOKEN_MAX_TTL_DAYS", default=365)
MG_BASE_URL = env.str("MG_BASE_URL", default="http://127.0.0.1:8000")
MG_BASE_CURRENCY = env.str("MG_BASE_CURRENCY", default="EUR")
# The platform's EC P-256 signing key (PEM); created on first use when missing. It signs the audit checkpoints.
MG_SIGNING_KEY_FILE = env.str("MG_SIGNING_KEY_FILE", default=str(VAR_DIR / "keys" / "signing-key.pem"))
# Audit checkpoints: every MG_AUDIT_CHECKPOINT_SECONDS (when the chain has grown) and at every export, signed and
# written to the artifact store, and also to MG_AUDIT_ANCHOR_DIR when set (a write-once mount the operator names).
MG_AUDIT_CHECKPOINT_SECONDS = env.float("MG_AUDIT_CHECKPOINT_SECONDS", default=3600.0)
MG_AUDIT_ANCHOR_DIR = env.str("MG_AUDIT_ANCHOR_DIR", default="")
# Processes that verify a long audit chain side by side on PostgreSQL (at most the CPUs there are).
MG_AUDIT_VERIFY_PROCESSES = env.int("MG_AUDIT_VERIFY_PROCESSES", default=4)

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "celery-broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True  # results live in our own models; tasks that answer opt in
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=f"file://{VAR_DIR / 'celery-results'}")
CELERY_TASK_ACKS_LATE = True
# A broker that does not answer is given about a second, not Celery's default retries: the request that sends a
# task is not held up, and the run shows "waiting for the broker" until the recovery sweep sends it again.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0.5,
                                    "interval_max": 0.5}
CELERY_BROKER_CONNECTION_TIMEOUT = 1.0
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE: dict = {
    "approvals-expire-and-notify": {
        "task": "governance.approvals_expire_and_notify",
        "schedule": env.float("MG_EXPIRY_CHECK_SECONDS", default=3600.0),
    },
    "validation-recover-runs": {"task": "validation.recover_runs", "schedule": 60.0},
    "audit-checkpoint": {"task": "governance.audit_checkpoint", "schedule": MG_AUDIT_CHECKPOINT_SECONDS},
    "serving-hosts-check-lost": {"task": "serving.hosts_check_lost",
                                 "schedule": env.float("MG_HOST_CHECK_SECONDS", default=15.0)},
    "serving-book-usage": {"task": "serving.book_usage", "schedule": 3600.0},
    "jobs-sweep": {"task": "governance.jobs.sweep", "schedule": 60.0},
    "webhooks-sweep": {"task": "governance.webhooks.tasks.webhooks_sweep", "schedule": 60.0},
    # followed MLflow models: their new versions imported as drafts
    "registry-mlflow-follow": {"task": "registry.mlflow_follow",
                               "schedule": env.float("MG_MLFLOW_FOLLOW_SECONDS", default=300.0)},
}

# --- MLflow import -------------------------------------------------------------------------------
# The tracking servers versions may be imported from (a scikit-learn flavour is a pickle: loading it runs code, so
# only servers the operator trusts), the default one, and the ONNX opset conversions target.
MG_MLFLOW_TRACKING_URIS = env.list("MG_MLFLOW_TRACKING_URIS", default=[])
MG_MLFLOW_TRACKING_URI = env.str("MG_MLFLOW_TRACKING_URI", default="")
MG_MLFLOW_TARGET_OPSET = env.int("MG_MLFLOW_TARGET_OPSET", default=17)
MG_MLFLOW_HTTP_RETRIES = env.int("MG_MLFLOW_HTTP_RETRIES", default=2)
MG_MLFLOW_HTTP_TIMEOUT_SECONDS = env.int("MG_MLFLOW_HTTP_TIMEOUT_SECONDS", default=30)
# Whether flavours that unpickle (scikit-learn saved with pickle or cloudpickle, LightGBM's scikit-learn models) may
# be loaded at all; skops files load without unpickling, trusting skops' own safe types and these others.
MG_MLFLOW_ALLOW_PICKLE = env.bool("MG_MLFLOW_ALLOW_PICKLE", default=True)
MG_MLFLOW_SKOPS_TRUSTED_TYPES = env.list("MG_MLFLOW_SKOPS_TRUSTED_TYPES", default=[])
# Local folders (a share the training jobs also mount) a run's logged datasets may be read from.
MG_MLFLOW_DATASET_ROOTS = env.list("MG_MLFLOW_DATASET_ROOTS", default=[])

# --- Webhooks -----------------------------------------------------------------------------------
# Attempts per message (then it is failed; an administrator can redeliver), the first retry's delay (each next
# one waits three times longer: 30 s, 90 s, 4.5 min ... about 9 h for 8 attempts), the request timeout, and the
# host names an operator allows although they resolve to private or loopback addresses (or are plain http).
MG_WEBHOOK_MAX_ATTEMPTS = env.int("MG_WEBHOOK_MAX_ATTEMPTS", default=8)
MG_WEBHOOK_RETRY_BASE_SECONDS = env.float("MG_WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
MG_WEBHOOK_TIMEOUT_SECONDS = env.float("MG_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
MG_WEBHOOK_ALLOWED_HOSTS = env.list("MG_WEBHOOK_ALLOWED_HOSTS", default=[])
MG_WEBHOOK_QUEUE = env.str("MG_WEBHOOK_QUEUE", default="") or None  # None: the default queue

# --- Background jobs (reports, dossiers, evidence packs) -----------------------------------------------------
# The queue they go to (empty: the default one), how often a job whose worker died is tried, after how long a
# queued job nobody took is sent again, and how long a prepared file stays downloadable.
MG_JOB_QUEUE = env.str("MG_JOB_QUEUE", default="") or None
MG_JOB_MAX_ATTEMPTS = env.int("MG_JOB_MAX_ATTEMPTS", default=3)
MG_JOB_RESEND_SECONDS = env.int("MG_JOB_RESEND_SECONDS", default=300)
MG_JOB_RESULT_TTL_HOURS = env.float("MG_JOB_RESULT_TTL_HOURS", default=24.0)

# --- Validation runs ----------------------------------------------------------------------------
MG_VALIDATION_QUEUE = env.str("MG_VALIDATION_QUEUE", default="") or None  # None: the default queue
MG_VALIDATION_HEARTBEAT_SECONDS = env.int("MG_VALIDATION_HEARTBEAT_SECONDS", default=10)
MG_VALIDATION_STALE_SECONDS = env.int("MG_VALIDATION_STALE_SECONDS", default=120)
MG_VALIDATION_MAX_ATTEMPTS = env.int("MG_VALIDATION_MAX_ATTEMPTS", default=3)
MG_VALIDATION_REQUEUE_SECONDS = env.int("MG_VALIDATION_REQUEUE_SECONDS", default=900)
MG_VALIDATION_SOFT_TIME_LIMIT = env.int("MG_VALIDATION_SOFT_TIME_LIMIT", default=3600)
# A starting worker runs one small in-memory validation so that its first real run skips 5-15 s of imports.
MG_WORKER_WARMUP = env.bool("MG_WORKER_WARMUP", default=True)

# --- Serving (control plane) ------------------------------------------------------------------
# How often agents poll their desired state (a rollback reaches the hosts within about one interval), after how
# long a silent host counts as lost, how long an enrolment token stays usable, and where signed releases live.
MG_AGENT_POLL_SECONDS = env.float("MG_AGENT_POLL_SECONDS", default=2.0)
MG_HOST_LOST_SECONDS = env.int("MG_HOST_LOST_SECONDS", default=60)
MG_ENROLMENT_TOKEN_TTL_HOURS = env.int("MG_ENROLMENT_TOKEN_TTL_HOURS", default=24)
# KServe rendering: where the cluster downloads a release's signed bundle. Empty: the control plane's own link
# (expiring after MG_KSERVE_BUNDLE_TTL_HOURS, refused once the version may no longer be served); or a template
# such as "s3://models/{passport}/v{version}-{sha256}" for teams that copy bundles into their object store.
MG_KSERVE_STORAGE_URI = env.str("MG_KSERVE_STORAGE_URI", default="")
MG_KSERVE_BUNDLE_TTL_HOURS = env.int("MG_KSERVE_BUNDLE_TTL_HOURS", default=24 * 30)
MG_RELEASES_DIR = env.str("MG_RELEASES_DIR", default="")  # empty: <MEDIA_ROOT>/releases
MG_RELEASE_REFERENCE_ROWS = env.int("MG_RELEASE_REFERENCE_ROWS", default=50_000)

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "governance.accounts.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.api.permissions.DenyByDefault"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.DefaultPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        "user": env.str("API_THROTTLE_USER", default="1200/min"),
        "reauth": env.str("API_THROTTLE_REAUTH", default="10/min"),
        "agent": env.str("API_THROTTLE_AGENT", default="1200/min"),
        "enrol": env.str("API_THROTTLE_ENROL", default="20/min"),
    },
    "EXCEPTION_HANDLER": "core.api.exceptions.exception_handler",
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.JSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    # OPTIONS answers 405: no endpoint describes itself there (the OpenAPI schema does), and DRF's metadata
    # would build querysets and serializers some views do not have.
    "DEFAULT_METADATA_CLASS": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Model Governance API",
    "DESCRIPTION": "Passports, ONNX versions, datasets, aliases, audit chain and API tokens. "
    "Authenticate with `Authorization: Bearer <token>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Swagger UI is served from our own static files (drf-spectacular-sidecar), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No deep links: a link inside each operation's summary button is an interactive element nested in another
    # (WCAG 4.1.2), and keyboard users reach the operations through the buttons themselves.
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
    "REDOC_DIST": "/api/redoc-dist",  # the sidecar's bundle without its one remote image (core.views)
    # 429 and 503 on every operation (core.api.schema)
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "core.api.schema.document_throttling_and_busy"],
    # One enum component for version states (used by versions, passport annotations and filters).
    "ENUM_NAME_OVERRIDES": {"VersionStateEnum": "registry.choices.VersionState",
                            "RunStateEnum": "validation.choices.RunState",
                            "ValidationDepthEnum": "validation.choices.ValidationDepth",
                            "TestAcceptanceKindEnum": "governance.workflow.choices.TestAcceptanceKind",
                            "DatasetKindEnum": "registry.choices.DatasetKind",
                            "StrategyEnum": "serving.choices.Strategy",
                            "ChallengerStrategyEnum": "serving.choices.CHALLENGER_STRATEGIES",
                            "ServedRoleEnum": "serving.choices.ServedRole",
                            "RoleEnum": "governance.workflow.choices.SignoffRole"},
}

# One cache for every process: API throttles and failure counters (sign-off re-authentication) must hold across
# workers and replicas. Redis when MG_CACHE_URL names one (redis://host:6379/2), else files under var/ (shared by
# the processes of one machine, the embedded default).
_CACHE_URL = env.str("MG_CACHE_URL", default="")
CACHES = {"default": (
    {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _CACHE_URL} if _CACHE_URL.startswith(
        ("redis://", "rediss://")) else
    {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}
)}

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="governance@localhost")

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
# Every page: scripts and styles from this server only, nothing inline, nothing fetched from elsewhere. Pages that
# draw Plotly charts and the API docs (whose renderers inject <style> elements) add 'unsafe-inline' for styles
# alone, with ``core.csp.inline_styles``; no page ever runs an inline script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

SESSION_ENGINE = "django.contrib.sessions.backends.db"
REAUTH_WINDOW = timedelta(minutes=5)
