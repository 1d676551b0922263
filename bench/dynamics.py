"""First-run and incremental-run times of cache_customers_dynamic (and max online).

Standalone: a throw-away SQLite file and the embedded MongoDB engine. Two data
sizes; prints seconds per run. `python bench/dynamics.py`
"""
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
os.environ["SQLITE_PATH"] = tempfile.mktemp(suffix=".sqlite3", prefix="bench-dynamics-")
os.environ.pop("DATABASE", None)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import override_settings  # noqa: E402

from smartystats import fill  # noqa: E402
from tvmiddleware.fixtures import generate  # noqa: E402
from tvmiddleware.models import Client  # noqa: E402

NOW = datetime(2024, 3, 10, 14, 37, tzinfo=timezone.utc)
SIZES = [("small", dict(customers=200, sessions=3000, payments=500)),
         ("large", dict(customers=1000, sessions=15000, payments=2500))]


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main():
    call_command("migrate", verbosity=0)
    print(f"cache_customers_dynamic, fill to {fill.fill_to_for(NOW):%Y-%m-%d %H:%M} UTC "
          f"(first run fills from the start of the previous month)")
    with override_settings(SMARTYSTATS_LOCK_BACKEND="file"):
        for name, size in SIZES:
            client = Client.objects.create(name=f"bench {name}")
            t_gen, world = timed(lambda: generate(client, now=NOW, seed=1, days=40, **size))
            t_first, first = timed(lambda: fill.fill_client(client.id, fill.fill_to_for(NOW)))
            t_again, _ = timed(lambda: fill.fill_client(client.id, fill.fill_to_for(NOW)))
            later = NOW + timedelta(hours=1)
            t_hour, hour = timed(lambda: fill.fill_client(client.id, fill.fill_to_for(later)))
            print(f"{name:6} {len(world.accounts):5} accounts {len(world.sessions):6} sessions "
                  f"{len(world.payments):5} payments (generated in {t_gen:.1f}s)")
            print(f"       first run      {t_first:7.2f}s  {sum(first.values()):5} buckets")
            print(f"       no-op re-run   {t_again:7.2f}s  0 buckets")
            print(f"       next hour      {t_hour:7.2f}s  {sum(hour.values()):5} buckets")
    os.unlink(os.environ["SQLITE_PATH"])


if __name__ == "__main__":
    main()
