from django.conf import settings
from django.urls import path
from django.views.generic import TemplateView

# The live page is static HTML and a script; it reads the public API like any
# client and opens its stream on LIVE_PUBLIC_URL when the realtime role is
# served apart from the page.
urlpatterns = [
    path(
        "",
        TemplateView.as_view(
            template_name="leaderboards/live.html", extra_context={"live_url": settings.LIVE_PUBLIC_URL.rstrip("/")}
        ),
        name="live-page",
    )
]
