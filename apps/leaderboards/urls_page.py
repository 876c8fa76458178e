from django.urls import path
from django.views.generic import TemplateView

# The live page is static HTML and a script; it reads the public API like any client.
urlpatterns = [path("", TemplateView.as_view(template_name="leaderboards/live.html"), name="live-page")]
