"""Ordering by popularity, with deterministic ties, and filling up.

Channels: by the criterion, highest first; ties go to the higher total
viewing time, then to more sessions, then to the channel's place in the
standard order (sort, number, id). Channels without counted viewing come
after every watched one, in the standard order.

Programmes: by total viewing time (live + archive), highest first; ties go
to more sessions, then to the later airtime, then to the lower programme id.
Programmes without viewing fill up, newest airtime first.

Metric values are exact: averages are compared as fractions, medians are
whole or half seconds, so the order never depends on float rounding.
"""
from fractions import Fraction


def channel_values(raw):
    """The four criteria of one channel from its pipeline row (None: no viewing)."""
    if not raw or not raw.get("sessions"):
        return {"watch": 0, "watch_sessions": 0, "average": None, "median_watch_time": None}
    watch = Fraction(raw["watch_ms"], 1000)
    median = Fraction(raw["median_ms"]) / 1000
    return {"watch": watch, "watch_sessions": raw["sessions"],
            "average": watch / raw["sessions"], "median_watch_time": median}


def to_json_number(value):
    """Seconds as an int when whole, else a float rounded to the millisecond."""
    if value is None:
        return None
    if isinstance(value, Fraction) and value.denominator == 1:
        return int(value)
    if isinstance(value, int):
        return value
    return round(float(value), 3)


def json_metrics(values):
    return {name: to_json_number(value) for name, value in values.items()}


def rank_channels(channels, raw_metrics, criterion):
    """[(channel, values, watched)] for `channels` (standard order), most popular first."""
    watched, unwatched = [], []
    for index, channel in enumerate(channels):
        raw = raw_metrics.get(channel["id"])
        values = channel_values(raw)
        if values["watch_sessions"]:
            key = (-values[criterion], -values["watch"], -values["watch_sessions"], index)
            watched.append((key, channel, values))
        else:
            unwatched.append((channel, values, False))
    watched.sort(key=lambda row: row[0])
    return [(channel, values, True) for _, channel, values in watched] + unwatched


def programme_values(raw):
    if not raw:
        return {"watch": 0, "live_watch": 0, "archive_watch": 0, "watch_sessions": 0}
    live, archive = Fraction(raw["live_ms"], 1000), Fraction(raw["archive_ms"], 1000)
    return {"watch": live + archive, "live_watch": live, "archive_watch": archive,
            "watch_sessions": raw["sessions"]}


def rank_programmes(viewed, fill, raw_metrics, size):
    """The `size` most viewed programmes, topped up from `fill` (newest first).

    `viewed` is {id: programme} for programmes with metrics; `fill` is the
    candidates in fill order. Returns [(programme, values, watched)].
    """
    ranked = []
    for programme_id, programme in viewed.items():
        values = programme_values(raw_metrics[programme_id])
        if values["watch"] > 0:
            key = (-values["watch"], -values["watch_sessions"], -programme["begin"].timestamp(),
                   programme_id)
            ranked.append((key, programme, values))
    ranked.sort(key=lambda row: row[0])
    chosen = [(programme, values, True) for _, programme, values in ranked[:size]]
    taken = {programme["id"] for programme, _, _ in chosen}
    for programme in fill:
        if len(chosen) >= size:
            break
        if programme["id"] not in taken:
            chosen.append((programme, programme_values(None), False))
            taken.add(programme["id"])
    return chosen
