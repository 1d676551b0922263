from django.core.management.base import BaseCommand, CommandError

from tvmiddleware.demo.run import run, serve_saved
from viewstats.embedded import EmbeddedStoreError


class Command(BaseCommand):
    help = ("Run the demo: create a realistic simulated operator, send a week of its subscribers' viewing "
            "through the real HTTP API (stat/push from set-top boxes, batches from apps, including a "
            "resent batch and deliberately bad input), run every statistics command and print a summary. "
            "With VIEWSTATS_EMBEDDED_PATH set (`make demo` sets demo-store) the embedded MongoDB's data is "
            "saved in that folder, and `--reuse` serves it again later without simulating "
            "(`make demo-serve`).")

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=200, help="Subscriber accounts (default 200).")
        parser.add_argument("--days", type=int, default=7, help="Days of viewing to simulate (default 7).")
        parser.add_argument("--seed", type=int, default=7, help="Random seed (default 7).")
        parser.add_argument("--heartbeat", type=int, default=300,
                            help="Seconds between a box's pushes in the simulation (default 300).")
        parser.add_argument("--serve", action="store_true",
                            help="Keep serving the admin on 127.0.0.1:PORT afterwards. Without "
                                 "VIEWSTATS_EMBEDDED_PATH the embedded MongoDB's data lives only as long "
                                 "as this process.")
        parser.add_argument("--reuse", action="store_true",
                            help="Do not simulate: serve the state a previous run left, i.e. the SQLite "
                                 "database of SQLITE_PATH and the embedded MongoDB data saved in "
                                 "VIEWSTATS_EMBEDDED_PATH (`make demo-serve` runs this on what `make demo` "
                                 "left). Implies --serve.")
        parser.add_argument("--port", type=int, default=8000,
                            help="Port of --serve and --reuse on 127.0.0.1 (default 8000).")

    def handle(self, *args, accounts, days, seed, heartbeat, serve, reuse, port, **options):
        if not 0 < port < 65536:
            raise CommandError(f"--port must be between 1 and 65535, got {port}")
        for name, value in (("--accounts", accounts), ("--days", days), ("--heartbeat", heartbeat)):
            if value <= 0:
                raise CommandError(f"{name} must be a positive number, got {value}")
        try:
            if reuse:
                serve_saved(self.stdout, port=port)
            else:
                run(self.stdout, accounts=accounts, days=days, seed=seed, heartbeat=heartbeat, serve=serve,
                    port=port)
        except EmbeddedStoreError as exc:  # VIEWSTATS_EMBEDDED_PATH in use by another process, or damaged
            raise CommandError(str(exc)) from exc
