import os

from django.core.asgi import get_asgi_application

# A server or worker started without DJANGO_SETTINGS_MODULE runs production settings,
# which refuse to start unconfigured; only manage.py (make run) defaults to local.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
# The web and realtime roles borrow database connections from a pool (config/settings/base.py).
os.environ.setdefault("DATABASE_POOL", "true")

# Build Django's HTTP app first: it sets up the app registry that the
# websocket routing (consumers, models) imports need.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.common.access_log import daphne_access_log_redact  # noqa: E402
from apps.common.websocket import websocket_origin_validator  # noqa: E402
from apps.leaderboards.live.shutdown import install as live_shutdown_install  # noqa: E402
from apps.leaderboards.live.transport_bounds import install as live_transport_bounds_install  # noqa: E402
from scoreboard.routing import http_application, websocket_urlpatterns  # noqa: E402

# League streams carry the access token in the query string; daphne logs paths.
daphne_access_log_redact()
# Under daphne: drop live clients whose unsent output passes LIVE_MAX_BUFFERED_BYTES.
live_transport_bounds_install()
# Under daphne: on SIGTERM, close WebSockets with 1012 and end SSE streams before stopping.
live_shutdown_install()

application = ProtocolTypeRouter(
    {
        "http": http_application(django_asgi_app),
        # Browsers must come from our origins; native clients send no Origin and are served.
        "websocket": websocket_origin_validator(URLRouter(websocket_urlpatterns)),
    }
)
