"""The device database layer: brand, model and broad class of a User-Agent.

Matomo's Device Detector (its Python port `device-detector`) knows tens of
thousands of devices by model code, brand and class, but costs 10–40 ms for a
string it has not seen (measured here; bench/devices.py). `user-agents`
(uap-core) knows fewer devices and answers in about a millisecond. Both are
asked through `DbResult`, so the rest of the classifier does not care which
answered:

    lookup(ua)         Device Detector when installed, else user-agents
    quick_lookup(ua)   user-agents always (about a millisecond)
    hint_lookup(ua)    a broad class from a few tokens (microseconds): the
                       provisional answer given at ingest while the full one
                       is computed outside the request
"""
import logging
import re
import warnings
from dataclasses import dataclass

log = logging.getLogger(__name__)

try:  # optional: without it the classifier uses user-agents alone
    from device_detector import DeviceDetector
except ImportError:  # pragma: no cover - depends on the installation
    DeviceDetector = None

import user_agents

# Device Detector's classes -> the broad class the classifier works with.
TV, MOBILE, TABLET, DESKTOP, BOT, OTHER = "tv", "mobile", "tablet", "desktop", "bot", "other"
_DD_KINDS = {
    "tv": TV, "set-top box": TV, "peripheral": OTHER, "smart display": OTHER,
    "smartphone": MOBILE, "phablet": MOBILE, "feature phone": MOBILE, "wearable": MOBILE,
    "tablet": TABLET, "desktop": DESKTOP, "notebook": DESKTOP, "console": OTHER,
    "car browser": OTHER, "camera": OTHER, "portable media player": MOBILE, "smart speaker": OTHER,
}


@dataclass(frozen=True)
class DbResult:
    kind: str = ""           # TV, MOBILE, TABLET, DESKTOP, BOT, OTHER or "" (unknown)
    brand: str = ""
    model: str = ""
    os: str = ""
    client: str = ""         # the browser, player or library the database named
    client_type: str = ""    # "mediaplayer", "library", "browser", "mobile app", ...
    source: str = ""         # "device-detector" or "user-agents"


def available():
    return DeviceDetector is not None


def name():
    return "device-detector" if available() else "user-agents"


def _dd(ua):
    parsed = DeviceDetector(ua).parse()
    if parsed.is_bot():
        bot = parsed.all_details.get("bot") or {}
        return DbResult(BOT, client=bot.get("name", "") or "", source="device-detector")
    kind = _DD_KINDS.get((parsed.device_type() or "").lower(), "")
    os_name = parsed.os_name() or ""
    if os_name in ("UNK", "Unknown"):
        os_name = ""
    version = parsed.os_version() or ""
    if os_name and version and version not in ("UNK", "0"):
        os_name = f"{os_name} {version}"
    brand = parsed.device_brand() or ""
    model = parsed.device_model() or ""
    return DbResult(kind, "" if brand in ("UNK", "Unknown") else brand,
                    "" if model in ("UNK", "Unknown") else model, os_name,
                    _clean_client(parsed.client_name()), (parsed.client_type() or "").lower(),
                    "device-detector")


def _clean_client(value):
    return "" if not value or value in ("UNK", "Unknown") else value


_PLACEHOLDERS = frozenset({"Other", "Generic", "Smartphone", "Feature Phone", "Tablet", "Desktop", "Spider"})


def _placeholder(value):
    return "" if not value or value in _PLACEHOLDERS or value.startswith("Generic_") else value


def _uap(ua):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = user_agents.parse(ua)
    os_name = "" if parsed.os.family == "Other" else parsed.get_os()
    if parsed.is_bot:
        return DbResult(BOT, os=os_name, client=_placeholder(parsed.get_browser()), source="user-agents")
    if parsed.is_tablet:
        kind = TABLET
    elif parsed.is_mobile:
        kind = MOBILE
    elif parsed.is_pc:
        kind = DESKTOP
    elif "tv" in (parsed.device.family or "").lower():
        kind = TV
    else:
        kind = ""
    browser = _placeholder(parsed.browser.family)
    return DbResult(kind, _placeholder(parsed.device.brand), _placeholder(parsed.device.model), os_name,
                    browser, "browser" if browser else "", "user-agents")


def lookup(ua):
    """The best database's answer for `ua` (slow with Device Detector)."""
    if not ua:
        return DbResult()
    if DeviceDetector is not None:
        try:
            return _dd(ua)
        except Exception as exc:  # a database bug must not lose the session
            log.warning("device-detector failed on %r: %s", ua[:200], exc)
    return _uap(ua)


def quick_lookup(ua):
    """user-agents' answer: about a millisecond, fewer TV-side devices."""
    return _uap(ua) if ua else DbResult()


_HINTS = (
    (re.compile(r"\biPad\b|\bTablet\b"), TABLET),
    (re.compile(r"\biPhone\b|\biPod\b|Android.*\bMobile\b|\bMobile Safari\b|Windows Phone"), MOBILE),
    (re.compile(r"\bAndroid\b"), TABLET),
    (re.compile(r"Windows NT|Macintosh|X11; (?:Ubuntu; )?Linux (?:x86_64|i686)|CrOS"), DESKTOP),
)


def hint_lookup(ua):
    """A broad class from a few tokens, in microseconds: the provisional answer
    given while the database's is computed outside the request."""
    for pattern, kind in _HINTS:
        if pattern.search(ua or ""):
            return DbResult(kind, source="hint")
    return DbResult()
