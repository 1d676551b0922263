from django.core.management.base import BaseCommand, CommandError

from viewstats import store


class Command(BaseCommand):
    help = ("Create the MongoDB indexes viewstats declares, and apply the raw-data retention "
            "(VIEWSTATS_RAW_RETENTION_DAYS) as a TTL index. `migrate` does the same; run this after "
            "changing the retention or when the statistics database was restored without indexes.")

    def handle(self, *args, **options):
        try:
            names = store.ensure_indexes()
        except Exception as exc:
            raise CommandError(f"could not reach the statistics database: {exc}") from exc
        where = "embedded engine" if store.is_embedded() else "MongoDB"
        self.stdout.write(f"{len(names)} indexes in place on the {where}: {', '.join(sorted(set(names)))}")
