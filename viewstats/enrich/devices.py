"""Device class from the User-Agent (and Infomir's X-User-Agent) header.

A layered classifier (each layer in its own small module):

1. Our fast rules (`uarules`): the families this middleware serves and knows
   for sure (Infomir MAG with the model from X-User-Agent, Enigma2, Dune HD,
   Formuler, Amino, TVIP, Eltex, Apple TV, Roku, Fire TV, Chromecast, Tizen,
   webOS, NetCast, VIDAA, NETTV, HbbTV, KreaTV, OpenTV, the "(Vendor, Model,
   wired)" suffix...), the players and media libraries (Kodi, TiviMate, OTT
   Navigator, VLC, ExoPlayer, Lavf, stagefright...), the servers that
   re-serve streams (xTeVe, Threadfin, Tvheadend, Jellyfin, Plex, Emby...) and
   bots. A rule takes the brand and model from the string, never from the
   platform alone.
2. A maintained device database (`uadb`): Matomo's Device Detector
   (`device-detector`), else `user-agents`, for the brand, model and broad
   class of everything else. A model a layer found is never dropped: the
   rules' model wins, the database's fills in.
3. Our split of TV-side devices into stb / tv_stick / smarttv (`tvsplit`,
   which documents where each rule comes from).

The app is kept apart from the hardware: `type` is the hardware (stb,
tv_stick, smarttv, mobile, tablet, desktop), `app` the player. `player_app`
is a player or media library on hardware the string does not tell;
`restreamer` a server that fetches streams to re-serve them.

`classify` is the full answer (the database costs 10-40 ms per new string
with Device Detector) behind a bounded in-process cache; `quick` answers in
under a millisecond without the database and says whether that answer is
complete. `uacache` puts the shared MongoDB cache in front of both and defers
the slow cases out of the request.
"""
import hashlib
from dataclasses import asdict, dataclass
from functools import lru_cache

from . import names, tvsplit, uadb, uarules

STB, SMARTTV, TV_STICK = "stb", "smarttv", "tv_stick"
MOBILE, TABLET, DESKTOP = "mobile", "tablet", "desktop"
PLAYER_APP, BOT, OTHER = "player_app", "bot", "other"
RESTREAMER = "restreamer"
TYPES = (STB, SMARTTV, TV_STICK, MOBILE, TABLET, DESKTOP, PLAYER_APP, BOT, OTHER, RESTREAMER)
TV_SIDE = (STB, SMARTTV, TV_STICK)

# Long enough for any real User-Agent; keeps junk headers from bloating the cache.
MAX_UA_LENGTH = 1024
CACHE_SIZE = 4096
# Bumped whenever the rules change what they answer: stored sessions and the
# shared cache compare it to know what to reclassify.
RULES_VERSION = 2

# Apps made for the TV screen: on an Android model the database does not know,
# they run on a TV-side device (TiviMate and OTT Navigator are Android TV apps).
_TV_APPS = ("TiviMate", "OTT Navigator", "Perfect Player", "Televizo", "Sparkle TV", "MYTVOnline",
            "Kodi", "XBMC", "Smart IPTV", "SS IPTV", "XCIPTV", "IPTV Smarters", "Lazy IPTV", "ProgTV",
            "SmartTube", "GSE IPTV", "OttPlayer")


@dataclass(frozen=True)
class DeviceInfo:
    type: str               # one of TYPES
    brand: str = ""
    model: str = ""
    os: str = ""
    app: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def ua_hash(user_agent, x_user_agent=None):
    """Key of a (User-Agent, X-User-Agent) pair in the shared cache and on sessions."""
    ua, xua = normalize(user_agent), normalize(x_user_agent)
    return hashlib.blake2b(f"{ua}\x00{xua}".encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def normalize(value):
    return (value or "").strip()[:MAX_UA_LENGTH]


def _identified(db):
    return bool(db.brand or db.model)


# Platforms licensed to other makers, and the owner a database may assume
# for them when the string names no maker: that guess is not kept.
_LICENSED_PLATFORMS = {"googletv": "Google", "webos": "LG", "vidaa": "Hisense", "nettv": "Philips"}


def _brand(hw, db_brand):
    """The rules' brand, unless the database names a maker the rules' slot did not.

    Vendor slots (HbbTV's, OIPF's) sometimes hold a platform or profile name
    ("Arcelik_Gen3", "SmarD TV"); a maker the database recognised wins over
    a slot value nobody knows.
    """
    rule_brand = hw.brand if hw else ""
    if not rule_brand:
        if hw and _LICENSED_PLATFORMS.get(hw.platform) == db_brand:
            return ""
        return db_brand
    if db_brand and hw and not hw.sure and not tvsplit.is_known_maker(rule_brand):
        return db_brand
    return rule_brand


def combine(found, db):
    """The DeviceInfo from our rules' scan and a database answer."""
    hw = found.hardware
    os_name = (hw.os if hw else "") or db.os
    if found.app_kind == "restreamer":
        return DeviceInfo(RESTREAMER, "", "", os_name, found.app)
    app = found.app
    if not app and db.client_type == "mediaplayer" and db.client:
        app = db.client
    db_brand = names.canonical(db.brand)
    brand = _brand(hw, db_brand)
    model = (hw.model if hw else "") or db.model
    if hw is not None:
        if hw.type == uarules.TV:
            type_ = tvsplit.split(brand, hw.model, hw.platform, db.model,
                                  names_=(found.model_hint, hw.hint))
        else:
            type_ = hw.type
        return DeviceInfo(type_, brand, model, os_name, app)
    if found.bot:
        return DeviceInfo(BOT, "", "", db.os if db.kind != BOT else "", found.bot)
    if app and not _identified(db):
        if found.desktop or (db.kind == uadb.DESKTOP and not found.android):
            return DeviceInfo(DESKTOP, "", "", os_name, app)
        if found.model_hint and (found.tv_hint or app.split(" ")[0] in _TV_APPS or app.startswith(_TV_APPS)):
            return DeviceInfo(tvsplit.split("", found.model_hint, "", ""), "", found.model_hint, os_name, app)
        return DeviceInfo(PLAYER_APP, "", found.model_hint, os_name, app)
    model = model or found.model_hint
    if db.kind == uadb.OTHER and _identified(db):
        return DeviceInfo(OTHER, brand, model, os_name, app)   # consoles, speakers, cars, cameras
    tv_model = tvsplit.model_type(db.model) or tvsplit.model_type(found.model_hint)
    tv_maker = tvsplit.tv_only_maker(brand)
    if db.kind == uadb.TV or found.tv_hint or tv_maker or (tv_model and db.kind != uadb.DESKTOP):
        return DeviceInfo(tvsplit.split(brand, found.model_hint, "", db.model), brand, model, os_name, app)
    if db.kind == uadb.BOT:
        return DeviceInfo(BOT, "", "", "", db.client)
    if db.kind == uadb.DESKTOP or found.desktop:
        return DeviceInfo(DESKTOP, brand, model, os_name, app)
    if db.kind in (uadb.MOBILE, uadb.TABLET):
        return DeviceInfo(MOBILE if db.kind == uadb.MOBILE else TABLET, brand, model, os_name, app)
    if app:
        return DeviceInfo(PLAYER_APP, brand, model, os_name, app)
    return DeviceInfo(OTHER, brand, model, os_name, "")


def _classify_uncached(ua, xua):
    if not ua and not xua:
        return DeviceInfo(OTHER)
    found = uarules.scan(ua, xua)
    if found.complete:
        return combine(found, uadb.quick_lookup(uarules.deobfuscate(ua)) if _needs_os(found) else uadb.DbResult())
    return combine(found, uadb.lookup(uarules.deobfuscate(ua)))


def _needs_os(found):
    hw = found.hardware
    return not (hw and hw.os) and not found.bot


@lru_cache(maxsize=CACHE_SIZE)
def _classify(ua, xua):
    return _classify_uncached(ua, xua)


def classify(user_agent: str | None, x_user_agent: str | None = None) -> DeviceInfo:
    """The full DeviceInfo for a User-Agent and optional X-User-Agent (cached per pair)."""
    return _classify(normalize(user_agent), normalize(x_user_agent))


def quick(user_agent, x_user_agent=None):
    """(DeviceInfo, complete) in well under a millisecond, without the device database.

    `complete` is True when the answer equals `classify`'s: our rules settle
    the string by themselves. Otherwise the answer is provisional (our rules
    plus a broad class from a few tokens) and `classify` should be run
    outside the request.
    """
    ua, xua = normalize(user_agent), normalize(x_user_agent)
    if not ua and not xua:
        return DeviceInfo(OTHER), True
    found = uarules.scan(ua, xua)
    if found.complete or not uadb.available():
        return _classify(ua, xua), True
    return combine(found, uadb.hint_lookup(ua)), False


def cache_info() -> dict:
    info = _classify.cache_info()
    calls = info.hits + info.misses
    return {"hits": info.hits, "misses": info.misses, "size": info.currsize,
            "hit_ratio": info.hits / calls if calls else 0.0}


def database() -> str:
    """Which device database layer 2 uses here."""
    return uadb.name()
