import os

from django.core.wsgi import get_wsgi_application

# A server or worker started without DJANGO_SETTINGS_MODULE runs production settings,
# which refuse to start unconfigured; only manage.py (make run) defaults to local.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
# The web and realtime roles borrow database connections from a pool (config/settings/base.py).
os.environ.setdefault("DATABASE_POOL", "true")

application = get_wsgi_application()
