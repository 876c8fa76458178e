import os

from celery import Celery
from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun, worker_process_init

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


@setup_logging.connect
def _log_like_django(loglevel=None, **kwargs) -> None:
    """Workers write the same lines as web processes (LOG_FORMAT, request and job ids), not Celery's own.

    Connecting here stops Celery from replacing the root handler; `--loglevel` still sets the level.
    """
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


# The request id rides in each job's headers into the worker (apps/common/request_id.py).
def _connect_request_id() -> None:
    from apps.common import request_id

    before_task_publish.connect(request_id.task_publish_add_request_id, weak=False)
    task_prerun.connect(request_id.task_prerun_bind, weak=False)
    task_postrun.connect(request_id.task_postrun_unbind, weak=False)


_connect_request_id()
