from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.common.apis import HealthApi, ReadyApi, metrics_export
from apps.common.throttles import posts_throttled

api_v1 = [
    path("", include("apps.members.urls")),
    path("", include("apps.matches.urls")),
    path("", include("apps.guesses.urls")),
    path("", include("apps.leagues.urls")),
    path("", include("apps.leaderboards.urls")),
    path("", include("apps.ingestion.urls")),
    path("", include("apps.common.urls")),
]

handler404 = "apps.common.errors.not_found"

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("healthz", HealthApi.as_view(), name="healthz"),
    path("readyz", ReadyApi.as_view(), name="readyz"),
    path("metrics", metrics_export, name="prometheus-django-metrics"),
    # Ahead of the admin's own route: its sign-in form is limited like /auth/token.
    path("admin/login/", posts_throttled(admin.site.login, scope="auth")),
    path("admin/", admin.site.urls),
    path("live/", include("apps.leaderboards.live.urls_page")),
]
