"""Settings shared by every environment, read from the environment.

With no environment at all the project runs embedded: SQLite, the local-memory
cache, the in-memory channel layer and Celery in eager mode. Setting
DATABASE_URL and REDIS_URL (and optionally CELERY_BROKER_URL) switches to
PostgreSQL, Redis and real workers with no code change.
"""

import ipaddress
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parents[2]

env = environ.Env()

# Public (it is in the repository): fine for `make run` with DEBUG on, refused
# by apps.common at start-up whenever DEBUG is off (it also signs JWTs).
EMBEDDED_SECRET_KEY = "django-insecure-embedded-default-do-not-use-in-production"
SECRET_KEY = env("SECRET_KEY", default=EMBEDDED_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "django_celery_beat",
    "channels",
    "apps.common",
    "apps.members",
    "apps.matches",
    "apps.guesses",
    "apps.leagues",
    "apps.leaderboards",
    "apps.ingestion",
    "apps.demo",
]

MIDDLEWARE = [
    # First, so every response (redirects, errors) carries X-Request-ID and every log line the id.
    "apps.common.middleware.RequestIdMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "apps.common.middleware.ApiNotFoundMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "scoreboard.urls"
WSGI_APPLICATION = "scoreboard.wsgi.application"
ASGI_APPLICATION = "scoreboard.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -------------------------------------------------------------
# django-prometheus wraps the engine so query counts and latencies show on /metrics.
_PROMETHEUS_ENGINES = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ENGINE"] = _PROMETHEUS_ENGINES.get(
    DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"]
)
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
if "sqlite" in DATABASES["default"]["ENGINE"]:
    # The embedded default serves web, worker and replay threads from one file;
    # WAL and a busy timeout keep concurrent writers from failing at once.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
# Connection pool (Django's psycopg pool) for the web and realtime roles: a
# burst of requests borrows kept connections instead of opening one each.
# Their entry points (scoreboard/wsgi.py, asgi.py) set DATABASE_POOL on;
# Celery processes and manage.py do not: a prefork worker holds one connection
# per child anyway, and a pool created before a fork is unusable after it.
# DATABASE_POOL_MAX=0 turns it off everywhere. PostgreSQL only: SQLite has none.
DATABASE_POOL_MAX = env.int("DATABASE_POOL_MAX", default=10)
DATABASE_POOL = (
    env.bool("DATABASE_POOL", default=False)
    and DATABASE_POOL_MAX > 0
    and "postgresql" in DATABASES["default"]["ENGINE"]
)
if DATABASE_POOL:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(env.int("DATABASE_POOL_MIN", default=1), DATABASE_POOL_MAX),
        "max_size": DATABASE_POOL_MAX,
        # Seconds a request waits for a free connection before failing.
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
    }
    # Django refuses persistent connections with a pool: the pool keeps them.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "members.Member"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))

# --- Redis: cache, channel layer, leaderboard projection ------------------
REDIS_URL = env("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
            "KEY_PREFIX": "cache",
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # The layer blocks on reads for up to 5 s; redis-py's own
                        # socket timeout must be longer or idle consumers die.
                        "socket_timeout": 30,
                        "socket_connect_timeout": 5,
                    }
                ],
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Live top 10 (apps/leaderboards/live.py) -------------------------------
LIVE_HEARTBEAT_SECONDS = env.float("LIVE_HEARTBEAT_SECONDS", default=15.0)
LIVE_SUBSCRIBER_TTL_SECONDS = env.float("LIVE_SUBSCRIBER_TTL_SECONDS", default=30.0)
LIVE_POLL_SECONDS = env.float("LIVE_POLL_SECONDS", default=1.0)
# Where browsers reach WebSocket and SSE when they are served apart from the page ("" = same origin).
LIVE_PUBLIC_URL = env("LIVE_PUBLIC_URL", default="")
# Open WebSocket + SSE streams one client address may hold in one realtime process (0 = no cap).
LIVE_MAX_CONNECTIONS_PER_IP = env.int("LIVE_MAX_CONNECTIONS_PER_IP", default=20)
# Bytes written to a live client but not yet taken by it before the connection is dropped.
LIVE_MAX_BUFFERED_BYTES = env.int("LIVE_MAX_BUFFERED_BYTES", default=1024 * 1024)
# On SIGTERM a realtime process ends its live streams first (1012 / end of SSE), waiting at most this long.
LIVE_SHUTDOWN_SECONDS = env.float("LIVE_SHUTDOWN_SECONDS", default=5.0)

# --- Celery ---------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
# Without a real broker the embedded default runs every task inline.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not (REDIS_URL or env("CELERY_BROKER_URL", default="")))
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "settlement"
CELERY_TASK_ROUTES = {
    "apps.ingestion.tasks.*": {"queue": "ingestion"},
    "apps.leaderboards.tasks.*": {"queue": "settlement"},
}
# Longest wait between two retries of any task (apps.common.retry): a long
# outage is probed at this interval instead of backing off for hours.
TASK_RETRY_BACKOFF_MAX_SECONDS = env.float("TASK_RETRY_BACKOFF_MAX_SECONDS", default=300.0)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
# Scores of matches in play move the boards goal by goal: the live poll runs
# often, but asks only for tournaments with a match in play. A poll still
# waiting when the next one is due is dropped, not run late (expire_seconds:
# the DatabaseScheduler keeps only that spelling of a message's expiry).
INGESTION_LIVE_POLL_SECONDS = env.int("INGESTION_LIVE_POLL_SECONDS", default=15)
SETTLEMENT_SWEEP_SECONDS = env.int("SETTLEMENT_SWEEP_SECONDS", default=60)
# The DatabaseScheduler copies these into django-celery-beat's periodic tasks
# (admin: Periodic tasks) each time beat starts.
CELERY_BEAT_SCHEDULE = {
    "ingestion-poll-live": {
        "task": "apps.ingestion.tasks.ingestion_poll_live",
        "schedule": timedelta(seconds=INGESTION_LIVE_POLL_SECONDS),
        "options": {"queue": "ingestion", "expire_seconds": INGESTION_LIVE_POLL_SECONDS},
    },
    "ingestion-poll-fixtures": {
        "task": "apps.ingestion.tasks.ingestion_poll_fixtures",
        "schedule": timedelta(hours=env.int("INGESTION_FIXTURES_POLL_HOURS", default=6)),
        "options": {"queue": "ingestion"},
    },
    # Records each running tournament's ranks once per local day, within one beat of 00:00 in its time zone.
    "rank-snapshots-daily": {
        "task": "apps.leaderboards.tasks.rank_snapshots_daily",
        "schedule": timedelta(seconds=env.int("RANK_SNAPSHOT_BEAT_SECONDS", default=600)),
        "options": {"queue": "settlement", "expires": 300},
    },
    "settlement-sweep": {
        "task": "apps.leaderboards.tasks.settlement_sweep",
        "schedule": timedelta(seconds=SETTLEMENT_SWEEP_SECONDS),
        # A sweep still queued when the next is due is dropped (the next one covers it).
        "options": {"queue": "settlement", "expire_seconds": SETTLEMENT_SWEEP_SECONDS},
    },
}

# --- Settlement -------------------------------------------------------------
# Guesses per settlement batch (one transaction each); memory grows with it.
SETTLEMENT_BATCH_SIZE = env.int("SETTLEMENT_BATCH_SIZE", default=25_000)
SETTLEMENT_MAX_RETRIES = env.int("SETTLEMENT_MAX_RETRIES", default=6)
SETTLEMENT_RETRY_BACKOFF_SECONDS = env.int("SETTLEMENT_RETRY_BACKOFF_SECONDS", default=2)
# A request pending or in progress without progress this long is sent again by the sweeper.
SETTLEMENT_STUCK_SECONDS = env.int("SETTLEMENT_STUCK_SECONDS", default=300)
SETTLEMENT_LOCK_WAIT_SECONDS = env.int("SETTLEMENT_LOCK_WAIT_SECONDS", default=300)
# Pause after each batch, to leave a loaded database room for reads (0: none).
SETTLEMENT_BATCH_PAUSE_SECONDS = env.float("SETTLEMENT_BATCH_PAUSE_SECONDS", default=0.0)
# Raise the settlement worker's nice value (0: unchanged) so web requests win the CPU on a shared host.
SETTLEMENT_WORKER_NICE = env.int("SETTLEMENT_WORKER_NICE", default=0)
# Pending score awards one job claims and applies per transaction.
SCORE_ACTION_BATCH_SIZE = env.int("SCORE_ACTION_BATCH_SIZE", default=5_000)
LEADERBOARD_REDIS_TIMEOUT = env.float("LEADERBOARD_REDIS_TIMEOUT", default=2.0)
# Public board pages: max-age of their Cache-Control, and the longest a member's
# cached stats are served (pages themselves are cached per board version).
LEADERBOARD_CACHE_SECONDS = env.int("LEADERBOARD_CACHE_SECONDS", default=2)
# Evaluate achievements after each settlement request and rank snapshot (off: none are awarded or taken back).
ACHIEVEMENTS_ENABLED = env.bool("ACHIEVEMENTS_ENABLED", default=True)

# --- Ingestion ------------------------------------------------------------
FOOTBALL_DATA_BASE_URL = env("FOOTBALL_DATA_BASE_URL", default="https://api.football-data.org")
FOOTBALL_DATA_TOKEN = env("FOOTBALL_DATA_TOKEN", default="")
INGESTION_HTTP_TIMEOUT = env.float("INGESTION_HTTP_TIMEOUT", default=10.0)
INGESTION_HTTP_RETRIES = env.int("INGESTION_HTTP_RETRIES", default=3)
INGESTION_HTTP_BACKOFF = env.float("INGESTION_HTTP_BACKOFF", default=1.0)
INGESTION_RATE_LIMIT_MAX_WAIT = env.float("INGESTION_RATE_LIMIT_MAX_WAIT", default=65.0)
# Plain http is refused except to this machine, unless an operator opts in.
INGESTION_ALLOW_INSECURE_HTTP = env.bool("INGESTION_ALLOW_INSECURE_HTTP", default=False)
# Source URLs reach only public addresses unless an operator opts in (a feed on the internal network).
INGESTION_ALLOW_PRIVATE_HOSTS = env.bool("INGESTION_ALLOW_PRIVATE_HOSTS", default=False)
# The largest provider answer read (decoded), in bytes.
INGESTION_MAX_BYTES = env.int("INGESTION_MAX_BYTES", default=20 * 1024 * 1024)
# File sources are read only below this directory.
INGESTION_FILE_ROOT = env("INGESTION_FILE_ROOT", default=str(BASE_DIR / "data"))
# Retries of an ingestion job whose database went away before it could record its run.
INGESTION_TASK_MAX_RETRIES = env.int("INGESTION_TASK_MAX_RETRIES", default=5)
INGESTION_TASK_RETRY_BACKOFF_SECONDS = env.float("INGESTION_TASK_RETRY_BACKOFF_SECONDS", default=1.0)

# --- REST framework -------------------------------------------------------
# Proxies in front of the app that append to X-Forwarded-For; 0 = the socket
# address. Unset, DRF would key limits on a header the client writes itself.
# The live per-address cap reads the client address the same way.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.common.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    # Lists each operation's error codes with the error body's schema (apps/common/schema.py).
    "DEFAULT_SCHEMA_CLASS": "apps.common.schema.ErrorResponsesAutoSchema",
    "EXCEPTION_HANDLER": "apps.common.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("THROTTLE_ANON", default="600/min"),
        "user": env("THROTTLE_USER", default="1200/min"),
        "auth": env("THROTTLE_AUTH", default="30/min"),
    },
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "scoreboard API",
    "DESCRIPTION": "Football prediction games: members, matches, guesses, leagues and live leaderboards.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Swagger UI served from the installed package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Tournaments and matches both have a `status`; name their enums apart.
    # The last hook adds the error bodies that every operation's 4xx answers refer to.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.common.schema.postprocess_error_components",
    ],
    "ENUM_NAME_OVERRIDES": {
        "TournamentStatusEnum": "apps.matches.models.Tournament.Status",
        "MatchStatusEnum": "apps.matches.models.Match.Status",
    },
}

PROMETHEUS_EXPORT_MIGRATIONS = False
# /metrics answers these networks (the socket's address) or a bearer METRICS_TOKEN; nobody else.
# Parsed here so a mistyped network stops the process at start, not a scrape later.
METRICS_ALLOWED_IPS = [
    str(ipaddress.ip_network(network, strict=False))
    for network in env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1/32", "::1/128"])
]
METRICS_TOKEN = env("METRICS_TOKEN", default="")

def logging_config(log_format: str) -> dict:
    """Every log line names its request, job and execution where known (apps/common/log.py).

    `json`: one JSON object per line, for log shippers; `plain`: text for a terminal.
    """
    if log_format not in ("json", "plain"):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {log_format!r}.")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "apps.common.log.RequestContextFilter"}},
        "formatters": {
            "json": {"()": "apps.common.log.JsonFormatter"},
            "plain": {"()": "apps.common.log.PlainFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["context"]},
        },
        "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }


LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING = logging_config(LOG_FORMAT)
