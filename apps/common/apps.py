from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class CommonConfig(AppConfig):
    name = "apps.common"
    label = "common"

    def ready(self):
        secret_key_check()


def secret_key_check() -> None:
    """Refuse to start with the repository's embedded signing key unless DEBUG is on.

    Checked here rather than in one settings module so that every settings
    module (a copy of `local` with DEBUG off, a staging module) and every entry
    point (gunicorn, daphne, Celery, manage.py) is covered: anyone can sign a
    JWT for any member, staff included, with a key that is public.
    """
    from django.conf import settings

    if settings.DEBUG:
        return
    embedded = getattr(settings, "EMBEDDED_SECRET_KEY", None)
    signing_key = getattr(settings, "SIMPLE_JWT", {}).get("SIGNING_KEY")
    if embedded and embedded in (settings.SECRET_KEY, signing_key):
        raise ImproperlyConfigured(
            "SECRET_KEY (or JWT_SIGNING_KEY) is the public embedded default while DEBUG is off: "
            "export SECRET_KEY=<50+ random characters>."
        )
