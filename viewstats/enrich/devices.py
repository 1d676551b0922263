"""Device class from the User-Agent (and Infomir's X-User-Agent) header.

Set-top boxes, TV sets and IPTV players are what this middleware serves, and
the general-purpose parser (`user_agents`) knows few of them, so our own
ordered rules run first:

* HARDWARE rules name the box / TV / stick.  They also run on X-User-Agent,
  and a model found there wins (MAG boxes all say MAG200 in User-Agent).
* APP rules name the player.  When no hardware rule matched, the device is a
  `player_app`; otherwise the hardware decides the type and the app is kept.

Whatever neither table knows goes to `user_agents.parse`.
"""
import re
from dataclasses import asdict, dataclass
from functools import lru_cache

import user_agents

STB, SMARTTV, TV_STICK = "stb", "smarttv", "tv_stick"
MOBILE, TABLET, DESKTOP = "mobile", "tablet", "desktop"
PLAYER_APP, BOT, OTHER = "player_app", "bot", "other"
TYPES = (STB, SMARTTV, TV_STICK, MOBILE, TABLET, DESKTOP, PLAYER_APP, BOT, OTHER)

# Long enough for any real User-Agent; keeps junk headers from bloating the cache.
MAX_UA_LENGTH = 1024
CACHE_SIZE = 4096


@dataclass(frozen=True)
class DeviceInfo:
    type: str               # one of TYPES
    brand: str = ""
    model: str = ""
    os: str = ""
    app: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern
    type: object            # a type name, or a callable(model) -> type name
    brand: str = ""
    model: str = ""         # templates over named groups: '{model}', 'Tizen {osver}'
    os: str = ""            # '' leaves the OS to user_agents
    extract: tuple = ()     # more patterns searched anywhere for named groups


def _rule(pattern, type_, brand="", model="", os="", extract=()):
    if isinstance(extract, str):
        extract = (extract,)
    return _Rule(re.compile(pattern), type_, brand, model, os,
                 tuple(re.compile(p) for p in extract))


# Amazon gives every Fire TV Edition set its own code (AFTDCT31, AFTEU011,
# AFTBAMR311, AFTHA001, AFTALMO, ...) and new ones appear each year, while the
# stick and box codes are few and known: so known sticks and boxes are listed
# and any other AFT* code is taken to be a TV set.
FIRE_TV_STICKS = frozenset({"AFTM", "AFTT", "AFTSS", "AFTSSS", "AFTMM", "AFTKA", "AFTKM", "AFTKRT"})
FIRE_TV_BOXES = frozenset({"AFTB", "AFTS", "AFTN", "AFTA", "AFTR", "AFTGAZL"})


def _fire_tv_type(model):
    if model in FIRE_TV_STICKS:
        return TV_STICK
    return STB if model in FIRE_TV_BOXES else SMARTTV


# Roku's reference designs for TV makers are numbered x000X (5000X, 6000X,
# 8000X, A000X, C000X...); players have other numbers (3930X, 4800X...).
_ROKU_TV_MAKERS = r"TCL|Hisense|Sharp|Insignia|Philips|Hitachi|JVC|Element|RCA|Westinghouse"

# Android model names sit between "Android x;" and " Build/" or the bracket.
_ANDROID_MODEL_END = r"(?= Build/|;|\))"

HARDWARE = (
    # Infomir's portal browser says MAG200 on most models (X-User-Agent has the
    # real one); Android MAGs give their model like any Android device.
    _rule(r"\b(?P<model>MAG\d{3}[A-Z]?)\b|\bstbapp\b", STB, "Infomir", "{model}"),
    _rule(r"(?i)\b(?P<model>aura ?hd(?: plus)?)", STB, "Infomir", "{model}"),
    # Receivers' players (servicemp3) send an HbbTV-style string with the
    # image name in the vendor slot; must precede the generic HbbTV rule.
    _rule(r"Enigma2(?: HbbTV/[\d.]+ \([^;)]*;(?P<image>[^;)]*))?", STB, "", "", "Enigma2 {image}"),
    _rule(r"(?i)dune[ _]?hd", STB, "Dune HD", "{model}",
          extract=r"Dune HD (?P<model>[^;)/]+?)" + _ANDROID_MODEL_END),
    # Formuler's Android builds often omit the brand: "; Z10 Pro Build/".
    # MYTVOnline is Formuler's own portal app and runs only on its boxes.
    _rule(r"Formuler(?:[ _]?(?P<model>Z\w*(?: (?:Pro|SE|Max|Alpha|Nano))*))?|MYTVOnline",
          STB, "Formuler", "{model}"),
    _rule(r"; (?P<model>Z(?:7|8|10|11)\+?(?: (?:Pro|SE|Max|Alpha|Nano))*)" + _ANDROID_MODEL_END,
          STB, "Formuler", "{model}"),
    _rule(r"\bAmino\b|(?i:\bAmiNET)", STB, "Amino", "{model}",
          extract=r"(?i)ami(?:no|net)[ _-]?(?P<model>A\d{2,3}\w*)"),
    _rule(r"(?i)\btvip\b", STB, "TVIP", "{model}", extract=r"(?i)(?P<model>S-Box v\.? ?\d+)"),
    _rule(r"(?i)\beltex\b|\bNV-\d{3}", STB, "Eltex", "{model}", extract=r"(?P<model>NV-\d{3}\w*)"),
    _rule(r"\bApple ?TV(?:\d|\b)|\btvOS\b", STB, "Apple", "Apple TV", "tvOS {osver}",
          extract=r"(?:CPU OS |tvOS[ /]|AppleTV\d+,\d+/)(?P<osver>\d+(?:[._]\d+)*)"),
    _rule(r"Roku ?TV|Roku\b.*\b(?:" + _ROKU_TV_MAKERS + r")\b|Roku/(?P<model>[5-8A-G]000X)",
          SMARTTV, "Roku", "{model}", "Roku OS {osver}", extract=r"DVP-(?P<osver>\d+(?:\.\d+)*)"),
    _rule(r"\bRoku\b", STB, "Roku", "{model}", "Roku OS {osver}",
          extract=(r"DVP-(?P<osver>\d+(?:\.\d+)*)", r"Roku/(?P<model>\d{4}[A-Z]{1,2})\b")),
    _rule(r"(?:^|[;(]) ?(?P<model>AFT[A-Z0-9]+)" + _ANDROID_MODEL_END, _fire_tv_type, "Amazon", "{model}"),
    _rule(r"\bCrKey/|\bChromecast\b", TV_STICK, "Google", "Chromecast"),
    _rule(r"(?i)\bmi tv stick\b|\bMiTV-AESP0\b", TV_STICK, "Xiaomi", "Mi TV Stick"),
    _rule(r"(?i)\b(?P<model>mi ?box[\w ]*?)" + _ANDROID_MODEL_END, STB, "Xiaomi", "{model}"),
    _rule(r"\b(?P<model>MiTV-\w+)", SMARTTV, "Xiaomi", "{model}"),
    _rule(r"\bSHIELD Android TV\b", STB, "NVIDIA", "SHIELD Android TV"),
    _rule(r"\b(?P<model>BRAVIA[^;)]*?)" + _ANDROID_MODEL_END + r"|\bBRAVIA\b", SMARTTV, "Sony", "{model}"),
    # Tizen also ran on Samsung phones and watches, which say "Mobile".
    _rule(r"(?i)\bTizen[ /]?(?P<osver>\d+(?:\.\d+)*)?(?!.*Mobile)", SMARTTV, "Samsung", "", "Tizen {osver}"),
    _rule(r"\bSmartHub\b|\bMaple\d{4}", SMARTTV, "Samsung", "", "Orsay"),
    _rule(r"\bWeb0S\b|(?i:\bwebos\.tv\b|\bwebos\b.*\bSmartTV\b)", SMARTTV, "LG", "", "webOS"),
    _rule(r"NetCast", SMARTTV, "LG", "{model}", "NetCast",
          extract=(r"Model/(?P<model>[\w.-]+)", r"LGE; ?(?P<model>[\w.-]+);")),
    _rule(r"\bVIDAA\b", SMARTTV, "Hisense", "", "VIDAA"),
    _rule(r"\bNETTV/", SMARTTV, "Philips"),
    _rule(r"\bViera\b", SMARTTV, "Panasonic"),
    # Per the HbbTV spec: (capabilities; vendor; model; sw version; hw; reserved).
    _rule(r"HbbTV/[\d.]+ \((?P<caps>[^;)]*);\s*(?P<brand>[^;)]*);\s*(?P<model>[^;)]*)|HbbTV/",
          SMARTTV, "{brand}", "{model}"),
    # No-name Android TV boxes are sold under their board/series names.
    _rule(r"(?i); (?P<model>(?:X96|T95|H96|MXQ|TX\d)[^;)]*?)" + _ANDROID_MODEL_END + r"|\bTV ?Box\b",
          STB, "", "{model}"),
    _rule(r"(?i)\bSMART-?TV\b|\bTV Safari\b", SMARTTV),
)

APPS = (
    # Specific players first: most of them also carry a library token
    # (TiviMate and OTT Navigator embed ExoPlayer, Kodi embeds FFmpeg).
    (r"\bKodi/(?P<ver>[\d.]+)", "Kodi"),
    (r"\bXBMC/(?P<ver>[\d.]+)", "XBMC"),
    (r"\bTiviMate/(?P<ver>[\d.]+)", "TiviMate"),
    (r"(?i)\bOTT ?Navigator(?:/(?P<ver>[\d.]+))?", "OTT Navigator"),
    (r"\bGSE(?i:[ _-]?smart)?(?i:[ _-]?iptv)?(?i:[ _-]?pro)?(?:/(?P<ver>[\d.]+))?(?![A-Za-z])", "GSE IPTV"),
    (r"(?i)\bSmart ?IPTV\b(?:/(?P<ver>[\d.]+))?", "Smart IPTV"),
    (r"(?i)\bSS ?IPTV\b(?:/(?P<ver>[\d.]+))?", "SS IPTV"),
    (r"(?i)\bPerfect ?Player\b(?:/(?P<ver>[\d.]+))?", "Perfect Player"),
    (r"(?i)\bIPTV ?Smarters(?: ?Pro)?(?:/(?P<ver>[\d.]+))?", "IPTV Smarters"),
    (r"(?i)\bTelevizo\b(?:/(?P<ver>[\d.]+))?", "Televizo"),
    # Bare "Sparkle/x" is the macOS software-update framework, not the player.
    (r"(?i)\bSparkle[ _-]?(?:TV|IPTV|Player)\b(?:/(?P<ver>[\d.]+))?", "Sparkle TV"),
    (r"\bMYTVOnline\d?(?:/(?P<ver>[\d.]+))?", "MYTVOnline"),
    # Proxies that re-stream to the real players behind them.
    (r"(?i)\bxTeVe(?:/(?P<ver>[\d.]+))?", "xTeVe", "IPTV proxy"),
    (r"(?i)\bThreadfin(?:/(?P<ver>[\d.]+))?", "Threadfin", "IPTV proxy"),
    (r"\bstbapp\b", "stbapp"),
    (r"\b(?:VLC|LibVLC)/(?P<ver>[\d.]+)", "VLC"),
    (r"\b(?:lib)?mpv\b(?:[ /]v?(?P<ver>\d[\d.]*))?", "mpv"),
    (r"\bExoPlayerLib/(?P<ver>[\d.]+)|\bExoPlayer(?!.*ExoPlayerLib/)", "ExoPlayer"),
    (r"\bAndroidXMedia3/(?P<ver>[\d.]+)", "Media3"),
    (r"\bLavf/(?P<ver>[\d.]+)|\bFFmpeg\b", "Lavf"),
    (r"(?i)\bGStreamer(?: souphttpsrc)?(?: ?/?(?P<ver>\d[\d.]*))?", "GStreamer"),
)
APPS = tuple((re.compile(p), name, note[0] if note else "") for p, name, *note in APPS)

# Command-line clients and HTTP libraries that `user_agents` does not flag.
BOTS = re.compile(r"(?i)^(?:curl|wget|python-requests|python-urllib|go-http-client)\b")
_TV_FAMILY = re.compile(r"(?i)\bTV\b|Smart-?TV")
# "Model: MAG250; Link: WiFi" (portal browser) or "model=MAG250;gAppVersion=..." (newer firmware).
_X_MODEL = re.compile(r"(?i)\bmodel\s*[:=]\s*(?P<model>[^;,\s][^;,]*)")
_TEMPLATE_FIELD = re.compile(r"\{(\w+)\}")


def _fill(template, groups):
    """Fill a rule template; a group that did not match leaves a blank, not 'None'."""
    def field(m):
        value = groups.get(m.group(1)) or ""
        return value.replace("_", ".") if m.group(1).endswith("ver") else value
    return " ".join(_TEMPLATE_FIELD.sub(field, template).split())


def _groups(rule, match, text):
    groups = {k: v for k, v in match.groupdict().items() if v}
    for pattern in rule.extract:
        extra = pattern.search(text)
        if extra:
            groups.update((k, v) for k, v in extra.groupdict().items() if v and k not in groups)
    return groups


def _hardware(text):
    """(type, brand, model, os) from the first hardware rule that matches, else None."""
    if not text:
        return None
    for rule in HARDWARE:
        match = rule.pattern.search(text)
        if match:
            groups = _groups(rule, match, text)
            model = _fill(rule.model, groups)
            type_ = rule.type(model) if callable(rule.type) else rule.type
            return type_, _fill(rule.brand, groups), model, _fill(rule.os, groups)
    return None


def _app(text):
    for pattern, name, note in APPS:
        match = pattern.search(text)
        if match:
            version = match.groupdict().get("ver") or ""
            app = f"{name} {version}".strip()
            return f"{app} ({note})" if note else app
    return ""


# What user_agents puts in brand/model when it knows neither.
_PLACEHOLDERS = frozenset({"Other", "Generic", "Smartphone", "Feature Phone", "Tablet", "Desktop", "Spider"})


def _clean(value):
    return "" if not value or value in _PLACEHOLDERS or value.startswith("Generic_") else value


def _parsed_os(parsed):
    return "" if parsed.os.family == "Other" else parsed.get_os()


@lru_cache(maxsize=CACHE_SIZE)
def _classify(ua, xua):
    if not ua and not xua:
        return DeviceInfo(OTHER)
    parsed = user_agents.parse(ua)
    from_ua = _hardware(ua)
    hardware = _hardware(xua) or from_ua
    app = _app(ua)
    if hardware:
        type_, brand, model, _ = hardware
        x_model = _X_MODEL.search(xua)
        if x_model:
            model = x_model.group("model").strip()
        os_name = (from_ua[3] if from_ua else "") or _parsed_os(parsed)
        return DeviceInfo(type_, brand, model, os_name, app)
    if BOTS.search(ua) or parsed.is_bot:
        return DeviceInfo(BOT, "", "", _parsed_os(parsed), _clean(parsed.get_browser()))
    brand, model = _clean(parsed.device.brand), _clean(parsed.device.model)
    if app:
        return DeviceInfo(PLAYER_APP, brand, model, _parsed_os(parsed), app)
    if parsed.is_tablet:
        type_ = TABLET
    elif parsed.is_mobile:
        type_ = MOBILE
    elif parsed.is_pc:
        type_ = DESKTOP
    elif _TV_FAMILY.search(parsed.device.family or ""):
        type_ = SMARTTV
    else:
        type_ = OTHER
    return DeviceInfo(type_, brand, model, _parsed_os(parsed), "")


def classify(user_agent: str | None, x_user_agent: str | None = None) -> DeviceInfo:
    """The DeviceInfo for a User-Agent and optional X-User-Agent header (cached per pair)."""
    ua = (user_agent or "").strip()[:MAX_UA_LENGTH]
    xua = (x_user_agent or "").strip()[:MAX_UA_LENGTH]
    return _classify(ua, xua)


def cache_info() -> dict:
    info = _classify.cache_info()
    calls = info.hits + info.misses
    return {"hits": info.hits, "misses": info.misses, "size": info.currsize,
            "hit_ratio": info.hits / calls if calls else 0.0}
