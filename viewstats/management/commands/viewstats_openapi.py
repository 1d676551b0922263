"""Write (or check) the OpenAPI document the package ships."""
import sys

from django.core.management.base import BaseCommand

from viewstats import openapi


class Command(BaseCommand):
    help = ("Write the OpenAPI 3.1 document of the suite's HTTP APIs (viewstats/openapi.py) to the file the "
            "package ships and serves at /viewstats/api/openapi.json. --check only compares: exit 1 when "
            "the shipped file is stale; --stdout prints the document instead.")

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="exit 1 when the shipped file differs")
        parser.add_argument("--stdout", action="store_true", help="print the document, write nothing")

    def handle(self, *args, **options):
        text = openapi.dumps()
        if options["stdout"]:
            self.stdout.write(text, ending="")
            return
        current = openapi.SHIPPED.read_text(encoding="utf-8") if openapi.SHIPPED.exists() else ""
        if options["check"]:
            if current != text:
                self.stderr.write(f"{openapi.SHIPPED} is stale: run `manage.py viewstats_openapi`")
                sys.exit(1)
            self.stdout.write(f"{openapi.SHIPPED} is up to date")
            return
        if current == text:
            self.stdout.write(f"{openapi.SHIPPED} is up to date")
            return
        openapi.SHIPPED.write_text(text, encoding="utf-8")
        self.stdout.write(f"wrote {openapi.SHIPPED} ({len(text)} bytes, "
                          f"{sum(len(p) for p in openapi.build()['paths'].values())} operations)")
