"""What the report pages show: figures in human units, names for ids, words for columns.

The JSON API and the CSV keep raw numbers and ids (scripts add them up);
the admin pages go through here, so an operator reads "Channel One",
"12.4 GB" and "1:02:03" with the id and exact figure on hover.
"""
from datetime import datetime, timezone

from .. import host
from ..models import MediaServer
from .countries import NAMES as COUNTRY_NAMES

UNKNOWN = "unknown"


# ---------------------------------------------------------------- units

def number(value):
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def duration(seconds):
    """h:mm:ss, always with the hours ("44:00" would read as 44 hours or 44 minutes)."""
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:,}:{minutes:02}:{secs:02}"


def hours(seconds):
    """Watch time summed over many sessions, in hours."""
    if seconds is None:
        return ""
    h = seconds / 3600
    return f"{h:,.1f} h" if h >= 10 else f"{h:,.2f} h"


def traffic(nbytes):
    if not nbytes:
        return "0"
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= size:
            return f"{nbytes / size:,.2f} {unit}"
    return f"{nbytes} B"


def bandwidth(bps):
    if bps is None:
        return ""
    return f"{bps / 1e6:,.2f} Mbit/s"


def percent(part, whole):
    if not whole:
        return ""
    return f"{100 * part / whole:.1f} %"


def local_time(value, zone, with_date=True, with_year=False):
    """A stored instant (naive UTC from the driver, or aware) in the operator's zone."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    local = value.astimezone(zone)
    # In tables the year is the period's, shown above them.
    if with_year:
        return local.strftime("%a %d %b %Y %H:%M")
    return local.strftime("%a %d %b %H:%M" if with_date else "%H:%M")


def change(now, before):
    """The change against the period before, in words a card can show."""
    if not before:
        return "no data before" if now else "no data before either"
    delta = (now - before) / before * 100
    return f"{delta:+.1f} % on the period before"


FORMATS = {"number": number, "duration": duration, "hours": hours, "traffic": traffic,
           "bandwidth": bandwidth, "text": lambda v: "" if v is None else str(v)}


# ---------------------------------------------------------------- words

HELP = {
    "viewers": "Distinct viewers: accounts; a session without an account counts its IP address "
               "and User-Agent as one viewer. A viewer of several rows counts in each, once in "
               "the totals.",
    "sessions": "Viewing sessions that started in the period (a channel switch starts a new one).",
    "watch_time": "Time watched, summed over the sessions, in hours.",
    "avg_watch_time": "Average length of a session: watch time divided by sessions.",
    "bytes": "Data sent to the viewers. Only media servers report it; sessions reported by "
             "set-top boxes and apps carry none.",
    "share": "Share of the period's watch time.",
    "raw_sessions": "Sessions as they were reported, before merging.",
    "unique": "A unique session glues back together the sessions of one viewer (same IP "
              "address and User-Agent) on the same content that follow each other with a gap "
              "of at most {gap} — a box that reconnects or a viewer who flips away and back.",
}


def column(key, label, fmt="number", help=None, align="right"):
    return {"key": key, "label": label, "fmt": fmt, "help": help or HELP.get(key, ""),
            "align": align}


METRIC_COLUMNS = [
    column("viewers", "Viewers"), column("sessions", "Sessions"),
    column("share", "Share of watch time", "text"),
    column("watch_time", "Watch time", "hours"),
    column("avg_watch_time", "Average session", "duration"),
    column("bytes", "Traffic", "traffic"),
]
LABEL_COLUMNS = {
    "channel": [column("channel", "Channel", "text", "The channel, or the stream name a media "
                       "server reported when no channel of the operator plays it.", "left")],
    "programme": [column("programme", "Programme", "text", "The EPG programme on air when the "
                         "session started, with its air time.", "left"),
                  column("channel", "Channel", "text", align="left")],
    "device": [column("device_type", "Device type", "text", "The operator's device type the "
                      "device logged in as.", "left"),
               column("type", "Class", "text", "What the User-Agent says the device is.", "left"),
               column("brand_model", "Brand and model", "text", align="left"),
               column("app", "App or browser", "text", align="left")],
    "country": [column("country", "Country", "text", "From the viewer's IP address (GeoIP). "
                       "Unknown: a private or unlisted address, or a media server that did not "
                       "pass the viewer's address.", "left")],
    "protocol": [column("source", "Reported by", "text", "Set-top boxes and apps, or the media "
                        "servers' own session log.", "left"),
                 column("protocol", "Protocol", "text", align="left")],
}
PROTOCOL_NAMES = {"batch": "Device (batch)", "push": "Device (push)", "hls": "HLS",
                  "dash": "DASH", "rtmp": "RTMP", "rtsp": "RTSP", "tshttp": "MPEG-TS over HTTP",
                  "mss": "Smooth Streaming", "srt": "SRT", "udp": "UDP", "webrtc": "WebRTC"}


def protocol_name(value):
    return PROTOCOL_NAMES.get(value, value.upper()) if value else UNKNOWN


SOURCE_NAMES = {"device": "Set-top boxes and apps", "media_server": "Media servers"}
DEVICE_CLASSES = {"stb": "Set-top box", "smarttv": "Smart TV", "tv_stick": "TV stick",
                  "mobile": "Phone", "tablet": "Tablet", "desktop": "Computer",
                  "player_app": "Player app", "bot": "Robot", "other": "Other",
                  "restreamer": "Restreamer"}


# ---------------------------------------------------------------- names

class Names:
    """Display names for the ids of a page's rows, looked up once per page."""

    def __init__(self, client_ids):
        self.client_ids = client_ids
        self._device_types = None

    def device_type(self, system_name):
        if self._device_types is None:
            self._device_types = host.device_type_names(self.client_ids)
        if not system_name:
            return UNKNOWN
        return self._device_types.get(system_name, system_name)

    def servers(self, ids):
        ids = [i for i in ids if isinstance(i, int)]
        return dict(MediaServer.objects.filter(client_id__in=self.client_ids, id__in=ids)
                    .values_list("id", "name"))

    def servers_of_client(self):
        return dict(MediaServer.objects.filter(client_id__in=self.client_ids).values_list("id", "name"))

    def accounts(self, ids):
        return host.account_logins(self.client_ids, ids)

    def programmes(self, ids):
        found = {}
        for client_id in self.client_ids:
            found.update(host.programmes_by_id(client_id, ids))
        return found


def country_name(code):
    if not code:
        return UNKNOWN
    return COUNTRY_NAMES.get(code.upper(), code)


def device_class(value):
    return DEVICE_CLASSES.get(value, value.replace("_", " ").capitalize()) if value else UNKNOWN
