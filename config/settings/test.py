"""The test suite: real PostgreSQL and Redis, by default the local ones."""

import os

# The suite runs against the real services, by default the local ones on their
# standard ports; the environment overrides them.
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scoreboard")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")

from .base import *  # noqa: E402,F401,F403
from .base import DATABASES, SIMPLE_JWT, env  # noqa: E402

# DEBUG is off in tests like in production, so the embedded key would be refused;
# the suite (and the processes it starts) sign with a key of its own.
SECRET_KEY = env("SECRET_KEY", default="test-suite-only-key-never-used-by-a-server-0123456789abcdef")
SIMPLE_JWT = {**SIMPLE_JWT, "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY)}

DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default="test_scoreboard")}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
REST_FRAMEWORK = {**REST_FRAMEWORK}  # noqa: F405
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "anon": env("THROTTLE_ANON", default="100000/min"),
    "user": env("THROTTLE_USER", default="100000/min"),
    "auth": env("THROTTLE_AUTH", default="100000/min"),
}
# The suite writes feeds to temporary directories; the root's confinement has
# tests of its own that set it back to a narrow directory.
INGESTION_FILE_ROOT = env("INGESTION_FILE_ROOT", default="/")
# Static files come straight from the apps: the suite never runs collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
