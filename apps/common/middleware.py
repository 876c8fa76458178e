"""Request ids on every request and response; the API's error shape for unknown paths under /api/.

Both work under WSGI (gunicorn) and ASGI (daphne) without forcing async views
(the SSE streams) onto a thread: each is sync- and async-capable.
"""

import logging
import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase, JsonResponse

from apps.common import request_id
from apps.common.metrics import leaderboard_reads

logger = logging.getLogger("apps.common.requests")

# Probes and scrapes arrive every few seconds; their lines are kept out of INFO.
_QUIET_PATHS = ("/healthz", "/readyz", "/metrics")
_LEADERBOARD_SOURCE = "X-Leaderboard-Source"


class _HybridMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        return self._call(request)


class RequestIdMiddleware(_HybridMiddleware):
    """Binds the request id (the caller's `X-Request-ID` when safe, else a new one) and answers it back.

    Everything the request logs or enqueues carries the id; one access line per
    request is logged with it (method, path, status, milliseconds).
    """

    def _start(self, request: HttpRequest) -> tuple[dict, float]:
        request.request_id = request_id.accept_or_new(request.headers.get(request_id.HEADER))
        return request_id.bind(request_id=request.request_id, job_id=None, execution_id=None), time.perf_counter()

    def _finish(self, request: HttpRequest, response: HttpResponseBase, started: float) -> HttpResponseBase:
        response[request_id.HEADER] = request.request_id
        source = response.get(_LEADERBOARD_SOURCE)
        if source:
            leaderboard_reads.labels(source=source).inc()
        level = logging.DEBUG if request.path in _QUIET_PATHS else logging.INFO
        logger.log(
            level,
            "%s %s %s %.0fms",
            request.method,
            request.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    def _call(self, request):
        tokens, started = self._start(request)
        try:
            return self._finish(request, self.get_response(request), started)
        finally:
            # A WSGI thread serves the next request next: leave it no id.
            request_id.unbind(tokens)

    async def _acall(self, request):
        # Each ASGI request runs in a task of its own, whose context ends with it; the id stays bound
        # while a streaming response (SSE) is written, so its log lines keep it.
        _tokens, started = self._start(request)
        return self._finish(request, await self.get_response(request), started)


class ApiNotFoundMiddleware(_HybridMiddleware):
    """An unknown path under /api/ answers `{detail, code: not_found}`, never Django's HTML page.

    Django's `handler404` covers DEBUG off only; with DEBUG on the resolver's 404
    is the technical HTML page. Answers that already are JSON pass untouched.
    """

    @staticmethod
    def _shaped(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if (
            response.status_code == 404
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return JsonResponse({"detail": "Nothing is found at this address.", "code": "not_found"}, status=404)
        return response

    def _call(self, request):
        return self._shaped(request, self.get_response(request))

    async def _acall(self, request):
        return self._shaped(request, await self.get_response(request))
