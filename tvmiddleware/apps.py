from django.apps import AppConfig


class TvMiddlewareConfig(AppConfig):
    name = "tvmiddleware"
    verbose_name = "TV middleware (reference host)"
    default_auto_field = "django.db.models.BigAutoField"
