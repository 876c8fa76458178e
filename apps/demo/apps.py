from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo commands (`load_demo`, `run_embedded`): they use every other app, so no app depends on them."""

    name = "apps.demo"
    label = "demo"
