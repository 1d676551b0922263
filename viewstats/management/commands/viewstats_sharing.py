import argparse
import json
import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter

from viewstats import host, sharing
from viewstats.command_guard import EXIT_CODES_HELP, StoreGuardMixin

HELP = """\
Flag the accounts whose viewing suggests a shared login or a restream, per
operator and period, each with a score (0-100) and the reasons in words:

  concurrent_streams   more devices playing at once than the account has
                       device types registered (at least
                       VIEWSTATS_SHARING_MIN_STREAMS), or than
                       VIEWSTATS_SHARING_MAX_STREAMS when that is set
  concurrent_networks  more than VIEWSTATS_SHARING_MAX_NETWORKS_AT_ONCE IP
                       networks (/24, /48) at the same instant
  daily_spread         a day with more networks, countries or device types
                       than VIEWSTATS_SHARING_MAX_{NETWORKS,COUNTRIES,
                       DEVICE_TYPES}_PER_DAY
  impossible_travel    countries VIEWSTATS_SHARING_TRAVEL_KM apart within
                       VIEWSTATS_SHARING_TRAVEL_MINUTES
  restream_channels    VIEWSTATS_SHARING_RESTREAM_CHANNELS channels at once
                       from one address for VIEWSTATS_SHARING_RESTREAM_HOURS
                       hours of a day
  restreamer_ua        sessions from a restreamer / stream proxy User-Agent

Computed in MongoDB over the period's sessions (the period's index range
only). Days are the operator's local days; the default period is
yesterday. Prints progress per operator and a summary; --format json
prints one JSON document (what /viewstats/api/sharing answers), with the
evidence sessions of each flag when --evidence is given. The admin page
/viewstats/reports/sharing/ computes the same on demand."""


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keep the help text's paragraphs as written."""


class Command(StoreGuardMixin, BaseCommand):
    help = HELP

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs["formatter_class"] = _HelpFormatter
        kwargs.setdefault("epilog", f"Exit status: 0 done; 1 a bad option (the message names it); {EXIT_CODES_HELP}.")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--client", action="append", metavar="IDS",
                            help="Operator (client) ids, comma-separated or repeated; default every operator.")
        parser.add_argument("--date_from", metavar="YYYY-MM-DD",
                            help="First local day of the period (default: date_to, or yesterday).")
        parser.add_argument("--date_to", metavar="YYYY-MM-DD",
                            help="Last local day of the period, included (default: date_from, or yesterday).")
        parser.add_argument("--format", default="table", metavar="table|json",
                            help="table (default): one line per flagged account; json: one JSON document.")
        parser.add_argument("--min_score", default="0", metavar="N",
                            help="Only accounts with at least this score, 0-100 (default 0: every flagged account).")
        parser.add_argument("--evidence", action="store_true",
                            help="With --format json: each flag's evidence sessions too (at most "
                                 "VIEWSTATS_SHARING_EVIDENCE_ROWS per flag).")

    def handle(self, *args, client, date_from, date_to, format, min_score, evidence, **options):
        known = host.all_client_ids()
        clients = _ids(client) or known
        unknown = [c for c in clients if c not in known]
        if unknown:
            raise CommandError(f"--client: no such client {unknown[0]}", returncode=1)
        if format not in ("table", "json"):
            raise CommandError(f"--format: expected table or json, got {format!r}", returncode=1)
        first, last = _day(date_from, "--date_from"), _day(date_to, "--date_to")
        if first and last and last < first:
            raise CommandError("--date_from: the period starts after it ends", returncode=1)
        score = _score(min_score)
        # Check every operator's period before computing any.
        for client_id in clients:
            try:
                sharing.period_of(client_id, first, last)
            except sharing.SharingError as exc:
                option = "--date_to" if str(exc).startswith("date_to") else "--date_from"
                raise CommandError(f"{option}: {str(exc).split(': ', 1)[-1]}", returncode=1) from None
        progress = self.stderr if format == "json" else self.stdout
        began, results, flagged = time.monotonic(), [], 0
        for n, client_id in enumerate(clients, 1):
            started = time.monotonic()
            analysis = sharing.analyse(client_id, first, last, min_score=score, evidence=evidence)
            p = analysis.period
            flagged += len(analysis.findings)
            progress.write(f"[{n}/{len(clients)}] client {client_id} ({p.zone.key}) {p.first}..{p.last}: "
                           f"{len(analysis.findings)} account(s) flagged"
                           + (f", {analysis.accounts_flagged_below} under --min_score {score}"
                              if analysis.accounts_flagged_below else "")
                           + f" in {time.monotonic() - started:.1f} s")
            if format == "json":
                results.append(analysis.as_dict())
            else:
                self._table(analysis)
        summary = (f"total: {len(clients)} client(s), {flagged} account(s) flagged in "
                   f"{time.monotonic() - began:.1f} s")
        if format == "json":
            self.stdout.write(json.dumps({"clients": results}, default=_json_default, indent=1))
            self.stderr.write(summary)
        else:
            self.stdout.write(summary)

    def _table(self, analysis):
        if not analysis.findings:
            return
        zone = analysis.period.zone
        width = max(len(str(f.login)) for f in analysis.findings)
        self.stdout.write(f"  {'account'.ljust(width)}  score  reasons")
        for f in analysis.findings:
            self.stdout.write(f"  {str(f.login).ljust(width)}  {f.score:>5}  {f.verdict}: "
                              + "; ".join(f"{r.code} ({r.points})" for r in f.reasons))
            for r in f.reasons:
                self.stdout.write(f"  {''.ljust(width)}         - {r.text}")
        counts = {k: v for k, v in analysis.by_reason().items() if v}
        self.stdout.write("  by reason: " + ", ".join(f"{k} {v}" for k, v in counts.items())
                          + f" (times in {zone.key})")


def _json_default(value):
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _ids(values):
    out = []
    for value in values or ():
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            if not (part.isascii() and part.isdigit() and len(part) <= 18):
                raise CommandError(f"--client: expected numeric ids, got {part!r}", returncode=1)
            if int(part) not in out:
                out.append(int(part))
    return out


def _day(value, option):
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option}: expected YYYY-MM-DD, got {value!r}", returncode=1) from None


def _score(value):
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or int(text) > 100:
        raise CommandError(f"--min_score: expected a whole number from 0 to 100, got {value!r}", returncode=1)
    return int(text)

