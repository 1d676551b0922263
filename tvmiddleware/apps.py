from django.apps import AppConfig


class TvMiddlewareConfig(AppConfig):
    name = "tvmiddleware"
    verbose_name = "TV middleware (reference host)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import signals  # noqa: F401  (records tariff history)
