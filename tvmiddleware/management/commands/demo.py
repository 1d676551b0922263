from django.core.management.base import BaseCommand, CommandError

from tvmiddleware.demo.run import run


class Command(BaseCommand):
    help = ("Run the demo: create a realistic simulated operator, send a week of its subscribers' viewing "
            "through the real HTTP API (stat/push from set-top boxes, batches from apps, including a "
            "resent batch and deliberately bad input), run every statistics command and print a summary.")

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=200, help="Subscriber accounts (default 200).")
        parser.add_argument("--days", type=int, default=7, help="Days of viewing to simulate (default 7).")
        parser.add_argument("--seed", type=int, default=7, help="Random seed (default 7).")
        parser.add_argument("--heartbeat", type=int, default=300,
                            help="Seconds between a box's pushes in the simulation (default 300).")
        parser.add_argument("--serve", action="store_true",
                            help="Keep serving the admin on 127.0.0.1:8000 afterwards (the embedded "
                                 "MongoDB lives only as long as this process).")

    def handle(self, *args, accounts, days, seed, heartbeat, serve, **options):
        for name, value in (("--accounts", accounts), ("--days", days), ("--heartbeat", heartbeat)):
            if value <= 0:
                raise CommandError(f"{name} must be a positive number, got {value}")
        run(self.stdout, accounts=accounts, days=days, seed=seed, heartbeat=heartbeat, serve=serve)
