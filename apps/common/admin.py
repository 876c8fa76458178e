"""Admin helpers shared by apps."""

from django.contrib import admin


def model_admin_extend(model, *, actions=(), inlines=()) -> None:
    """Add actions and inlines to the admin of a model another app registers.

    Lets an app put its operations on a page it does not own (ingestion's
    "Ingest now" and the leaderboards' "Rebuild leaderboard" on tournaments)
    without the owning app importing it. Apps' admin modules load in
    INSTALLED_APPS order, so the owner's admin is registered first.
    """
    if not admin.site.is_registered(model):
        admin.site.register(model, type(f"{model.__name__}Admin", (admin.ModelAdmin,), {}))
    admin_class = type(admin.site.get_model_admin(model))
    present = list(admin_class.actions or [])
    admin_class.actions = [*present, *(a for a in actions if a not in present)]
    present_inlines = list(admin_class.inlines or [])
    admin_class.inlines = [*present_inlines, *(i for i in inlines if i not in present_inlines)]
