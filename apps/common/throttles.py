"""Rate limits that follow the settings at request time."""

import math
from functools import wraps

from django.http import JsonResponse
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle


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
