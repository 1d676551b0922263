from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_indexes(sender, **kwargs):
    # Smarty's docs tie MongoDB indexes to `migrate`; keep that promise.
    from . import store

    store.ensure_indexes()


class ViewstatsConfig(AppConfig):
    name = "viewstats"
    verbose_name = "Viewing statistics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks  # noqa: F401  registers the system checks

        post_migrate.connect(_ensure_indexes, sender=self, dispatch_uid="viewstats-indexes")
