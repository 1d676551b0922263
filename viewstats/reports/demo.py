"""Demo: a simulated week of a Flussonic server, fed through the real endpoint.

    from viewstats.reports.demo import run
    run("http://127.0.0.1:8000", client_id, stdout=sys.stdout)

Needs the Django settings of the running server (same SQL database): it
creates a MediaServer and a staff user with an API token for the client,
posts the week's events over HTTP, with days 3-4 held back as if the
server had been cut off and then resending that backlog twice, and prints
one line of each report read back through the JSON API. A second server,
an edge listed with its address, pulls a few channels from the first
around the clock: inter-server traffic, which no viewer figure counts.
"""
import json
import random
import sys
import urllib.request
from datetime import timedelta

from django.contrib.auth import get_user_model

from .. import host
from ..documents import utcnow
from ..models import ApiToken, MediaServer, OperatorStaff

PROTOCOLS = ("hls", "hls", "dash", "rtmp", "tshttp")
EDGE_NAME, EDGE_ADDRESS = "demo-edge-2", "203.0.113.10"
AGENTS = ("VLC/3.0.18 LibVLC/3.0.18", "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) Chrome/85",
          "Kodi/19.3 (Linux; Android 9.0; MAG425A Build/PPR1)", "ExoPlayerLib/2.18.1")


def _http(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def week_of_events(client_id, days=7, per_day=60, seed=7):
    rnd = random.Random(seed)
    channels = host.channels_in_default_order(client_id)[:20]
    accounts = host.active_account_ids(client_id)[:50]
    now = utcnow().replace(microsecond=0)
    start_day = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0)
    events, event_id = [], 0
    for d in range(days):
        for s in range(per_day):
            opened = start_day + timedelta(days=d, seconds=rnd.randrange(86400))
            if opened > now - timedelta(hours=2):
                continue
            base = {"id": f"demo-{d}-{s}", "media": rnd.choice(channels)["name"] if channels else "live1",
                    "ip": f"198.51.100.{rnd.randrange(1, 60)}", "user_agent": rnd.choice(AGENTS),
                    "proto": rnd.choice(PROTOCOLS), "server": "demo-edge",
                    "user_id": str(rnd.choice(accounts)) if accounts else "",
                    "opened_at": int(opened.timestamp() * 1000)}
            total = 0
            steps = rnd.randrange(1, 12)
            for k in range(steps + 1):
                at = opened + timedelta(seconds=240 * k)
                total += 0 if k == 0 else rnd.randrange(10 ** 6, 2 * 10 ** 7)
                name = "play_opened" if k == 0 else "play_closed" if k == steps else "play_updated"
                event_id += 1
                events.append({**base, "event": name, "event_id": event_id,
                               "utc_ms": int(at.timestamp() * 1000), "bytes": total})
    events += _edge_pulls(channels, start_day, now, days, event_id)
    return start_day, events


def _edge_pulls(channels, start_day, now, days, event_id):
    """The edge server pulling three channels in 6-hour sessions (about 5 Mbit/s each)."""
    events = []
    for d in range(days):
        for slot in range(4):
            for c, channel in enumerate(channels[:3]):
                opened = start_day + timedelta(days=d, hours=6 * slot)
                closed = opened + timedelta(hours=6)
                if closed > now - timedelta(hours=2):
                    continue
                base = {"id": f"pull-{d}-{slot}-{c}", "media": channel["name"], "ip": EDGE_ADDRESS,
                        "user_agent": "Flussonic/24.04", "proto": "tshttp", "server": "demo-edge",
                        "opened_at": int(opened.timestamp() * 1000)}
                for k, (name, at) in enumerate((("play_opened", opened), ("play_closed", closed))):
                    event_id += 1
                    events.append({**base, "event": name, "event_id": event_id,
                                   "utc_ms": int(at.timestamp() * 1000),
                                   "bytes": k * 6 * 3600 * 5_000_000 // 8})
    return events


def run(base_url, client_id, stdout=sys.stdout, days=7, http=_http):
    base_url = base_url.rstrip("/")
    server, _ = MediaServer.objects.get_or_create(client_id=client_id, name="demo-edge")
    MediaServer.objects.update_or_create(client_id=client_id, name=EDGE_NAME,
                                         defaults={"addresses": EDGE_ADDRESS})
    user, _ = get_user_model().objects.get_or_create(username=f"viewstats-demo-{client_id}",
                                                     defaults={"is_staff": True})
    OperatorStaff.objects.get_or_create(user=user, defaults={"client_id": client_id})
    token, _ = ApiToken.objects.get_or_create(user=user)
    start_day, events = week_of_events(client_id, days)
    cut_from, cut_to = start_day + timedelta(days=3), start_day + timedelta(days=5)
    in_gap = lambda e: cut_from.timestamp() * 1000 <= e["utc_ms"] < cut_to.timestamp() * 1000  # noqa: E731
    sink = f"{base_url}/viewstats/api/mediaserver/events"
    auth = {"Authorization": f"Bearer {server.token}"}
    live, backlog = [e for e in events if not in_gap(e)], [e for e in events if in_gap(e)]
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    for batch_source in (live, backlog, backlog):  # the backlog arrives twice
        for i in range(0, len(batch_source), 500):
            answer = http("POST", sink, batch_source[i:i + 500], auth)
            totals["accepted"] += answer["accepted"]
            totals["duplicates"] += len(answer["duplicates"])
            totals["rejected"] += len(answer["rejected"])
    print(f"events: sent {len(live) + 2 * len(backlog)} ({len(backlog)} of them a backlog sent "
          f"twice): {totals}", file=stdout)
    api = {"Authorization": f"Token {token.key}"}
    query = (f"date_from={start_day.date()}&date_to={utcnow().date()}")
    for name in ("channel", "programme", "device", "country", "protocol", "unique", "sessions",
                 "daily"):
        paging = "&limit=1" if name == "sessions" else ""
        body = http("GET", f"{base_url}/viewstats/api/reports/{name}?{query}{paging}", None, api)
        rows = body.get("rows", [])
        first = rows[0] if rows else {}
        if name == "daily":
            first = next((r for r in rows if r["server"] == "all" and r["connections"]), first)
        summary = body.get("totals") or {}
        print(f"{name}: {len(rows)} rows; totals {summary}; first {first}", file=stdout)
    now = utcnow()
    counters = http("GET", f"{base_url}/viewstats/api/stats/{client_id}/sessions/{now.year}/{now.month}",
                    None, api)
    print(f"counters sessions {now:%Y-%m}: {counters['data']}", file=stdout)
    pulls = http("GET", f"{base_url}/viewstats/api/reports/channel?{query}&inter_server=1", None, api)
    print(f"inter-server traffic: edge server '{EDGE_NAME}' ({EDGE_ADDRESS}) pulled "
          f"{pulls['totals']['sessions']} streams, {pulls['totals']['bytes'] / 1e9:.1f} GB, "
          f"counted apart from viewers", file=stdout)
    return totals
