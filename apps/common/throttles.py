"""Rate limits that follow the settings at request time."""

import math
import time
from functools import wraps

from django.http import JsonResponse
from django_redis import get_redis_connection
from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle


class SettingsScopedRateThrottle(ScopedRateThrottle):
    """ScopedRateThrottle whose rate is looked up on every request.

    DRF binds `THROTTLE_RATES` when the module is imported, so a rate changed
    later (an operator's override in a settings module, a test) would never
    be seen; reading `api_settings` each time picks it up.
    """

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


def posts_throttled(view_func, *, scope: str):
    """A plain Django view whose POSTs share the DRF rate `scope` (and its counter) with the API.

    The admin's login form is not a DRF view, so DRF never limits it: without
    this, /admin/login/ would let anyone guess staff passwords at full speed
    while /auth/token holds them to the "auth" rate. Keyed like the API
    (NUM_PROXIES decides which address counts), one client gets one budget
    across both doors.
    """

    class _View:
        throttle_scope = scope

    @wraps(view_func)
    def throttled(request, *args, **kwargs):
        if request.method == "POST":
            throttle = SettingsScopedRateThrottle()
            if not throttle.allow_request(request, _View):
                wait = math.ceil(throttle.wait() or 1)
                response = JsonResponse(
                    {"detail": f"Too many attempts; try again in {wait} s.", "code": "throttled"}, status=429
                )
                response["Retry-After"] = str(wait)
                return response
        return view_func(request, *args, **kwargs)

    return throttled


class OneTripUserRateThrottle(UserRateThrottle):
    """The "user" rate counted in one Redis round trip: a fixed window (INCR, then EXPIRE) per member.

    DRF's throttles keep a list of timestamps in the cache, read and written
    back on every request: two round trips, more than a cached read itself
    costs. A fixed window may let up to twice the rate through across a
    window's edge, which is fine for a read. Without Redis behind the cache
    it falls back to DRF's own counting; when Redis fails it lets the
    request through (the read itself then falls back to the database).
    """

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        try:
            client = get_redis_connection("default")
        except NotImplementedError:  # the local-memory cache of the embedded default
            return super().allow_request(request, view)
        now = time.time()
        window = int(now // self.duration)
        self._wait = self.duration - now % self.duration
        counter = f"throttle:{key}:{window}"
        try:
            pipe = client.pipeline(transaction=False)
            pipe.incr(counter)
            pipe.expire(counter, self.duration + 1)
            count, _ = pipe.execute()
        except RedisError:
            return True
        return count <= self.num_requests

    def wait(self):
        return getattr(self, "_wait", None)
