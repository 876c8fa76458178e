import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# Build Django's HTTP app first: it sets up the app registry that the
# websocket routing (consumers, models) imports need.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from apps.leaderboards.live.transport_bounds import install as live_transport_bounds_install  # noqa: E402
from scoreboard.routing import http_application, websocket_urlpatterns  # noqa: E402

# Under daphne: drop live clients whose unsent output passes LIVE_MAX_BUFFERED_BYTES.
live_transport_bounds_install()

application = ProtocolTypeRouter(
    {
        "http": http_application(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
