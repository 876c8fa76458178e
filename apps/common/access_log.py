"""Keep credentials out of daphne's access log.

Browsers cannot set headers on EventSource or WebSocket requests, so league
streams take the access token in the query string (`?token=`), and daphne
writes every request's full path to its access log (`--access-log`, or stdout
with `-v 1`). Every entry daphne logs, whichever logger it was given
(`daphne.access.AccessLogGenerator` from the command line, the runserver
command's own), passes through `Server.log_action`; redacting there covers
them all without a daphne wrapper an operator could forget to use.
"""

import re

_TOKEN_VALUE = re.compile(r"(?i)([?&;][^=&;#\s]*token=)[^&;#\s]*")
REDACTED = "[redacted]"


def query_tokens_redact(text: str) -> str:
    """`text` with the value of every `token=` (and `access_token=`, ...) query parameter replaced."""
    return _TOKEN_VALUE.sub(lambda match: match.group(1) + REDACTED, text)


def daphne_access_log_redact() -> None:
    """Make daphne's server redact query tokens from every action it logs (idempotent)."""
    from daphne.server import Server

    if getattr(Server.log_action, "redacts_tokens", False):
        return
    original = Server.log_action

    def log_action(self, protocol, action, details):
        if isinstance(details.get("path"), str):
            details = {**details, "path": query_tokens_redact(details["path"])}
        return original(self, protocol, action, details)

    log_action.redacts_tokens = True
    Server.log_action = log_action
