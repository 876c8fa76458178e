"""Rate limits that follow the settings at request time."""

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
