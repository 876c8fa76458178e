import os

from celery import Celery
from celery.signals import worker_process_init

# A server or worker started without DJANGO_SETTINGS_MODULE runs production settings,
# which refuse to start unconfigured; only manage.py (make run) defaults to local.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

app = Celery("scoreboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _serve_worker_metrics(**kwargs) -> None:
    from apps.common.metrics import worker_metrics_serve

    worker_metrics_serve()
