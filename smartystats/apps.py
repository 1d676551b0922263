from django.apps import AppConfig


class SmartystatsConfig(AppConfig):
    name = "smartystats"
    verbose_name = "Dynamics of subscribers"
    default_auto_field = "django.db.models.BigAutoField"
