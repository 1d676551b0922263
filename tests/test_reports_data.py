"""Generated sessions from both sources, and brute-force reference figures.

The reference functions here are deliberately naive plain Python over the
generated documents; the reports must agree with them.
"""
import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from viewstats import store
from viewstats.documents import session_document

UAS = ["MAG200 stbapp", "Kodi/19.3 (Linux; Android 9.0; MAG425A Build/x)", "VLC/3.0.18",
       "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0)"]
IPS = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "192.0.2.9"]
COUNTRIES = ["DE", "FR", "unknown"]
DEVICE_TYPES = ["mag", "android_stb", None]
PROTOCOLS = {"device": ["push", "batch"], "media_server": ["hls", "dash"]}


def base_time():
    return (datetime.now(timezone.utc) - timedelta(days=3)).replace(
        hour=0, minute=0, second=0, microsecond=0)


def make_sessions(op, seed, n=150, t0=None, span_hours=48):
    """Insert `n` random sessions of `op` (both sources); return them."""
    rnd = random.Random(seed)
    t0 = t0 or base_time()
    docs = []
    for i in range(n):
        source = rnd.choice(["device", "media_server"])
        start = t0 + timedelta(seconds=rnd.randrange(span_hours * 3600))
        # Short gaps and overlaps are frequent so the unique merge has work to do.
        end = start + timedelta(seconds=rnd.choice([0, 30, 240, 300, 301, 900, 3600]))
        account = rnd.choice(op.accounts + [None])
        channel = rnd.choice(op.channels)
        kind = rnd.choice(["live", "live", "archive"])
        extra = {"ip": rnd.choice(IPS), "user_agent": rnd.choice(UAS),
                 "ua": {"type": rnd.choice(["stb", "player_app"]), "brand": rnd.choice(["Infomir", ""]),
                        "model": rnd.choice(["MAG250", ""]), "os": "", "app": rnd.choice(["", "Kodi"])},
                 "country": rnd.choice(COUNTRIES)}
        if source == "media_server":
            extra.update(server_id=rnd.choice([1, 2]), bytes=rnd.randrange(10 ** 7),
                         media=None if rnd.random() < 0.8 else "unmapped-stream")
        doc = session_document(
            _id=f"t:{op.client.id}:{seed}:{i}", client_id=op.client.id, source=source,
            protocol=rnd.choice(PROTOCOLS[source]), start=start, end=end,
            channel_id=None if extra.get("media") else channel.id,
            program_id=rnd.choice([None, 1, 2]), kind=kind, **extra)
        doc.update(account_id=account.id if account else None,
                   customer_id=account.customer_id if account else None,
                   tariff_ids=[rnd.choice(op.tariffs).id] if account else [],
                   device_type=rnd.choice(DEVICE_TYPES))
        docs.append(doc)
    store.sessions().insert_many([dict(d) for d in docs])
    return docs


def viewer(d):
    if d.get("account_id") is not None:
        return f"a:{d['account_id']}"
    return f"ip:{d.get('ip') or ''}|{d.get('user_agent') or ''}"


def dimension_key(d, dimension):
    ua = d.get("ua") or {}
    return {
        "channel": lambda: (d["channel_id"], d.get("media") if d["channel_id"] is None else None),
        "programme": lambda: (d["channel_id"], d["program_id"]),
        "device": lambda: (d["device_type"], ua.get("type"), ua.get("brand"), ua.get("model"),
                           ua.get("app")),
        "country": lambda: (d["country"],),
        "protocol": lambda: (d["source"], d["protocol"]),
    }[dimension]()


ROW_KEYS = {"channel": ("channel_id", "media"), "programme": ("channel_id", "program_id"),
            "device": ("device_type", "type", "brand", "model", "app"), "country": ("country",),
            "protocol": ("source", "protocol")}


def brute_breakdown(docs, dimension):
    out = defaultdict(lambda: {"sessions": 0, "watch_time": 0, "bytes": 0, "viewers": set(),
                               "raw_sessions": 0})
    for d in docs:
        row = out[dimension_key(d, dimension)]
        row["sessions"] += 1
        row["raw_sessions"] += d.get("raw_sessions", 1)
        row["watch_time"] += d["duration"]
        row["bytes"] += d.get("bytes") or 0
        row["viewers"].add(viewer(d))
    return {k: {**v, "viewers": len(v["viewers"])} for k, v in out.items()}


def brute_unique(docs, gap):
    """Glue sessions: same ip, ua and content, next start <= gap after the latest end."""
    groups = defaultdict(list)
    for d in docs:
        content = (d.get("ip"), d.get("user_agent"), d["channel_id"], d.get("media"), d["kind"],
                   d["program_id"] if d["kind"] == "archive" else None)
        groups[content].append(d)
    merged = []
    for items in groups.values():
        items.sort(key=lambda d: d["start"])
        current, latest_end = None, None
        for d in items:
            if current is None or (d["start"] - latest_end).total_seconds() > gap:
                current = {**d, "raw_sessions": 0, "bytes": 0}
                merged.append(current)
                latest_end = d["end"]
            latest_end = max(latest_end, d["end"])
            current["start"] = min(current["start"], d["start"])
            current["end"] = max(current["end"], d["end"])
            current["raw_sessions"] += 1
            current["bytes"] += d.get("bytes") or 0
            current["duration"] = int((current["end"] - current["start"]).total_seconds())
    return merged


def in_range(docs, start, end, **equal):
    return [d for d in docs if start <= d["start"] < end
            and all(d.get(k) == v for k, v in equal.items())]


def test_generator_produces_both_sources(operator):
    docs = make_sessions(operator, seed=1, n=40)
    assert {d["source"] for d in docs} == {"device", "media_server"}
    assert store.sessions().count_documents({"client_id": operator.client.id}) == 40
