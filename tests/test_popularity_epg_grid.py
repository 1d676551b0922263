"""Programme viewing time: programmes crossing midnight, sessions spanning days."""
import random
from datetime import datetime, timedelta, timezone

import pytest

from tests.factories import make_operator
from tvmiddleware import models as m
from viewstats import store
from viewstats.popularity import pipelines
from viewstats.popularity.window import viewing_window

DAY0 = datetime(2025, 6, 1, tzinfo=timezone.utc)


def overlap(a0, a1, b0, b1):
    return max(0, (min(a1, b1) - max(a0, b0)).total_seconds())


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_live_overlap_matches_brute_force(seed):
    rng = random.Random(seed)
    op = make_operator("Grid", channels=3, accounts=2, epg_day=DAY0 - timedelta(days=30))
    m.EpgProgramme.objects.filter(channel__client=op.client).delete()
    programmes = []
    for ch in op.channels:
        t = DAY0 - timedelta(days=2, minutes=rng.randrange(0, 90))
        while t < DAY0 + timedelta(days=5):
            length = timedelta(minutes=rng.choice((25, 50, 95, 150, 210)))  # many cross midnight
            programmes.append(m.EpgProgramme.objects.create(channel=ch, begin=t, end=t + length, title="p"))
            t += length
    as_of = DAY0 + timedelta(days=4, hours=3)
    window = viewing_window(3, as_of)  # DAY0+1 .. DAY0+4
    docs = []
    for i in range(150):
        ch = rng.choice(op.channels)
        start = DAY0 + timedelta(minutes=rng.randrange(0, 5 * 24 * 60))
        seconds = rng.choice((30, 600, 3600, 7 * 3600, 26 * 3600, 50 * 3600))
        shift = rng.choice((0, 0, 0, 2, 5))
        docs.append({"_id": f"g{i}", "client_id": op.client.id, "channel_id": ch.id, "kind": "live",
                     "timeshift_offset": shift, "start": start, "end": start + timedelta(seconds=seconds),
                     "device_type": "mag", "tariff_ids": [], "account_id": None})
    store.sessions().insert_many(docs)

    expected = {}
    for d in docs:
        s, e = max(d["start"], window.start), min(d["end"], window.end)
        if e <= s:
            continue
        shift = timedelta(hours=d["timeshift_offset"])
        for p in programmes:
            if p.channel_id == d["channel_id"]:
                seconds = overlap(s - shift, e - shift, p.begin, p.end)
                if seconds:
                    row = expected.setdefault(p.id, [0, 0])
                    row[0] += seconds
                    row[1] += 1

    def programmes_for(start, end):
        return [(p.id, p.channel_id, p.begin, p.end) for p in programmes if p.begin < end and p.end > start]

    for chunk in (pipelines.SCHEDULE_CHUNK, 7):  # one grid, and many small ones
        pipelines.SCHEDULE_CHUNK = chunk
        try:
            got = pipelines.programme_metrics(op.client.id, window, {}, None, programmes_for)
        finally:
            pipelines.SCHEDULE_CHUNK = 20_000
        assert {pid: [row["live_ms"] / 1000, row["sessions"]] for pid, row in got.items()} == expected
