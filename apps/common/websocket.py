"""Which WebSocket handshakes are accepted: browsers from our own origins, and clients that are not browsers.

Channels' AllowedHostsOriginValidator refuses a handshake without `Origin`,
which shuts out mobile apps and scripts. The header exists to stop a page on
another site from opening a socket with the visitor's credentials
(cross-site WebSocket hijacking); every browser sends it on every handshake,
so a handshake without it does not come from a web page and carries no
ambient credentials of a visitor. A present `Origin` must still name one of
ALLOWED_HOSTS or CSRF_TRUSTED_ORIGINS; `null` and malformed values are refused.
"""

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    """OriginValidator that serves handshakes without an `Origin` header."""

    def valid_origin(self, parsed_origin) -> bool:
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)


def allowed_websocket_origins() -> list[str]:
    allowed = [*settings.ALLOWED_HOSTS, *settings.CSRF_TRUSTED_ORIGINS]
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        # Django's own rule for DEBUG with no hosts set: the local names.
        allowed += ["localhost", "127.0.0.1", "[::1]"]
    return allowed


def websocket_origin_validator(application) -> BrowserOriginValidator:
    return BrowserOriginValidator(application, allowed_websocket_origins())
