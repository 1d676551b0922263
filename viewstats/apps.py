from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_indexes(sender, **kwargs):
    # Smarty's docs tie MongoDB indexes to `migrate`; keep that promise, but
    # a MongoDB that is down must not stop the SQL migrations.
    import logging

    from . import store
    from .outage import OUTAGE_ERRORS

    try:
        store.ensure_indexes()
    except OUTAGE_ERRORS as exc:
        logging.getLogger(__name__).warning(
            "MongoDB unreachable, its indexes were not created (%s); run "
            "`manage.py viewstats_indexes` once it is reachable.", str(exc).splitlines()[0][:200])


class ViewstatsConfig(AppConfig):
    name = "viewstats"
    verbose_name = "Viewing statistics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks  # noqa: F401  registers the system checks

        post_migrate.connect(_ensure_indexes, sender=self, dispatch_uid="viewstats-indexes")
