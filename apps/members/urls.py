from django.urls import path

from apps.members.apis import LogoutApi, MeApi, PinApi, PinListApi, RegisterApi, TokenApi, TokenRefreshApi

urlpatterns = [
    path("auth/register", RegisterApi.as_view(), name="auth-register"),
    path("auth/token", TokenApi.as_view(), name="auth-token"),
    path("auth/token/refresh", TokenRefreshApi.as_view(), name="auth-token-refresh"),
    path("auth/logout", LogoutApi.as_view(), name="auth-logout"),
    path("me", MeApi.as_view(), name="me"),
    path("me/pins", PinListApi.as_view(), name="me-pins"),
    path("me/pins/<int:member_id>", PinApi.as_view(), name="me-pin"),
]
