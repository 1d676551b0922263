"""Our fast rules: the families this middleware serves, known for sure.

`scan(ua, xua)` reads a User-Agent (and Infomir's X-User-Agent) in tens of
microseconds and returns what the string itself says:

* hardware: a box, stick or TV set with its brand, model and platform.
  A rule whose `type` is TV leaves the box / stick / TV split to `tvsplit`
  (from the model it found, or the database's model);
* app: the player (Kodi, TiviMate, VLC, ExoPlayer, Lavf…) or the server that
  re-serves streams (xTeVe, Threadfin, Tvheadend, Jellyfin, Plex…), kept
  apart from the hardware it runs on;
* bot: command-line clients and crawlers;
* hints the database layer needs: a TV-side token with no maker ("Android
  TV", an Android TV build id, "GoogleTV", "SMART-TV"), a desktop OS.

`Scan.complete` says whether the string is settled without the device
database (MAG, Tizen, webOS with its maker, Roku, Fire TV, Chromecast, a bare
player, a bot, ...); the ingest path classifies only those at once.
"""
import re
from dataclasses import dataclass, field

from . import names, tvsplit

STB, SMARTTV, TV_STICK, TV, OTHER = "stb", "smarttv", "tv_stick", "tv", "other"

# Obfuscations some TV browsers use to dodge sites' UA sniffing.
_DEOBFUSCATE = (("Andr0id", "Android"), ("Chr0me", "Chrome"), ("Linu x", "Linux"))


@dataclass(frozen=True)
class Hardware:
    type: str                # STB, SMARTTV, TV_STICK, or TV (split later)
    brand: str = ""
    model: str = ""
    os: str = ""
    platform: str = ""       # tvsplit platform name
    sure: bool = True        # brand/model/type settled without the database
    hint: str = ""           # another product name in the string (OIPF product token)


@dataclass
class Scan:
    hardware: Hardware | None = None
    app: str = ""
    app_kind: str = ""       # "player", "library", "restreamer"
    bot: str = ""
    tv_hint: str = ""        # a TV-side platform with no maker named
    desktop: bool = False
    android: bool = False
    model_hint: str = ""     # an Android model name found in the string
    app_first: bool = False  # the string starts with the app's own token
    notes: list = field(default_factory=list)

    @property
    def complete(self):
        if self.bot or self.app_kind == "restreamer":
            return True
        hw = self.hardware
        if hw is not None:
            return hw.sure and hw.type != TV and bool(hw.brand or hw.platform in ("enigma2",))
        # A player naming only itself: no device to look up.
        return self.app_first and not self.android and not self.tv_hint and not self.model_hint


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern
    type: object             # a type, TV, or callable(groups) -> type
    brand: str = ""          # templates over named groups: '{brand}', '{model}'
    model: str = ""
    os: str = ""
    platform: str = ""
    sure: bool = True
    extract: tuple = ()


def _rule(pattern, type_, brand="", model="", os="", platform="", sure=True, extract=()):
    if isinstance(extract, str):
        extract = (extract,)
    return _Rule(re.compile(pattern), type_, brand, model, os, platform, sure,
                 tuple(re.compile(p) for p in extract))


def _roku(groups):
    return tvsplit.roku_type(groups.get("model", ""))


def _fire(groups):
    return tvsplit.fire_tv_type(groups.get("model", ""))


def _xiaomi(groups):
    return tvsplit.xiaomi_type(groups.get("code", ""))


_ROKU_TV_MAKERS = r"TCL|Hisense|Sharp|Insignia|Philips|Hitachi|JVC|Element|RCA|Westinghouse|Onn|Sanyo|Haier"
_ANDROID_MODEL_END = r"(?= Build/|;|\))"
# "(Vendor, Model, wired)": the Opera/OIPF device suffix of TV browsers
# (KreaTV, TiVo, Vizio Co-Star, Vestel MB9x, Pioneer and Sony players).
_VENDOR_SUFFIX = r"\((?P<vendor>[A-Za-z][\w .&+-]{1,30}), ?(?P<vmodel>[\w .+/-]{1,40}), ?(?:wired|wireless|Wired|Wireless|WIRED|WIRELESS)\)"

HARDWARE = (
    # Infomir's portal browser says MAG200 on most models (X-User-Agent has the
    # real one); Android MAGs give their model like any Android device.
    _rule(r"\b(?P<model>MAG ?\d{3}[A-Z]?)\b|\bstbapp\b", STB, "Infomir", "{model}", platform="stbapp"),
    _rule(r"(?i)\b(?P<model>aura ?hd(?: plus)?)", STB, "Infomir", "{model}"),
    # Receivers' players (servicemp3) send an HbbTV-style string with the
    # image name in the vendor slot; must precede the generic HbbTV rule.
    _rule(r"Enigma2(?: HbbTV/[\d.]+ \([^;)]*;(?P<image>[^;)]*))?", STB, "", "", "Enigma2 {image}",
          platform="enigma2"),
    _rule(r"(?i)dune[ _]?hd", STB, "Dune HD", "{model}", platform="dune",
          extract=(r"Dune HD (?P<model>[^;)/]+?)" + _ANDROID_MODEL_END,
                   r"DuneHD/[\d.]+ \((?P<model>[a-z]+\d+\w*)")),
    # Formuler's Android builds often omit the brand: "; Z10 Pro Build/".
    # MYTVOnline is Formuler's own portal app and runs only on its boxes.
    _rule(r"(?i)Formuler(?:[ _]?(?P<model>Z\w*(?: (?:Pro|SE|Max|Alpha|Nano))*))?|MYTVOnline",
          STB, "Formuler", "{model}"),
    _rule(r"; (?P<model>Z(?:7|8|10|11)\+?(?: (?:Pro|SE|Max|Alpha|Nano))*)" + _ANDROID_MODEL_END,
          STB, "Formuler", "{model}"),
    _rule(r"\bAmino\b|(?i:\bAmiNET)|\bAmigo ?\d", STB, "Amino", "{model}",
          extract=(r"(?i)ami(?:no|net)[ _-]?(?P<model>A\d{2,3}\w*)", r"(?P<model>Amigo ?\d\w*)")),
    _rule(r"(?i)\btvip\b", STB, "TVIP", "{model}", extract=r"(?i)(?P<model>S-Box v\.? ?\d+)"),
    _rule(r"(?i)\beltex\b|\bNV-?\d{3}", STB, "Eltex", "{model}", extract=r"(?P<model>NV-?\d{3}\w*)"),
    _rule(r"\bApple ?TV(?:\d|\b)|\btvOS\b|\bAppleTV\b", STB, "Apple", "Apple TV", "tvOS {osver}",
          extract=r"(?:CPU OS |tvOS[ /]?|AppleTV\d+,\d+/)(?P<osver>\d+(?:[._]\d+)*)"),
    # Roku: "Roku/DVP-9.10", "Roku4640X/DVP-7.70", "(QSP; Roku; ...)", "RokuOS/9.4".
    _rule(r"Roku ?TV|Roku\b.*\b(?:" + _ROKU_TV_MAKERS + r")\b", SMARTTV, "Roku", "{model}",
          "Roku OS {osver}", platform="rokutv", extract=r"DVP-(?P<osver>\d+(?:\.\d+)*)"),
    _rule(r"\bRoku ?/?(?P<model>\d[\dA-G]\d{2}[A-Z]{1,2})\b|\bRoku/(?P<model2>[5-8A-G]\d{3}[A-Z])\b",
          lambda g: tvsplit.roku_type(g.get("model") or g.get("model2", "")), "Roku", "{model}{model2}",
          "Roku OS {osver}", extract=r"DVP-(?P<osver>\d+(?:\.\d+)*)"),
    _rule(r"\bRoku(?:OS)?\b", STB, "Roku", "", "Roku OS {osver}",
          extract=(r"(?:DVP-|RokuOS/)(?P<osver>\d+(?:\.\d+)*)",)),
    # Amazon Fire TV codes in their many wrappers: Android model, Amazon;AFTT;,
    # smarttv_AFTKA_Build_, Kepler (Vega OS) "(Linux; AFTCL001)".
    # Amazon's own sticks, boxes and Cubes say Amazon; every other code is a
    # Fire TV Edition set by another maker, which the database names.
    _rule(r"(?:^|[;( ]|smarttv_|Amazon;) ?(?P<model>" + "|".join(sorted(tvsplit.FIRE_TV_STICKS | tvsplit.FIRE_TV_BOXES,
          key=len, reverse=True)) + r")(?=[ ;)_-]|$)", _fire, "Amazon", "{model}", platform="firetv"),
    _rule(r"(?:^|[;( ]|smarttv_|Amazon;) ?(?P<model>AFT[A-Z0-9]{1,12})(?=[ ;)_-]|$)",
          _fire, "", "{model}", platform="firetv-edition", sure=False),
    _rule(r"\bGoogle TV Streamer\b", STB, "Google", "Google TV Streamer"),
    _rule(r"\bNexus Player\b", STB, "Google", "Nexus Player"),
    _rule(r"\bMiTV-(?P<code>\w+)", _xiaomi, "Xiaomi", "MiTV-{code}", sure=False),
    _rule(r"(?i)\bmi tv stick\b", TV_STICK, "Xiaomi", "Mi TV Stick"),
    _rule(r"(?i)\b(?P<model>mi ?box[\w ]*?)" + _ANDROID_MODEL_END, STB, "Xiaomi", "{model}"),
    _rule(r"\bSHIELD (?:Android|Andr0id) TV\b", STB, "NVIDIA", "SHIELD Android TV"),
    _rule(r"\b(?P<model>BRAVIA[^;)]*?)" + _ANDROID_MODEL_END + r"|\bBRAVIA\b", SMARTTV, "Sony", "{model}"),
    # Operator and legacy STB browsers (WhichBrowser's and Device Detector's
    # fixtures; vendors' integration guides).
    _rule(r"(?i)KreaTV|Kreatel", STB, "{maker}", "", platform="kreatv", sure=False,
          extract=r"(?P<maker>Motorola|ARRIS|Arris)"),
    _rule(r"\bWebTV/", STB, "Microsoft", "WebTV"),
    _rule(r"\blacleTV/", TV_STICK, "Orange", "La clé TV"),
    # LG's Blu-ray players and home theatres: "LG NetCast.Media", "avdn/LG.Media",
    # model "Media/BP740".
    _rule(r"NetCast\.Media|\bLG\.Media\b|; Media/(?P<model>\w+)", STB, "LG", "{model}", sure=False,
          extract=r"; Media/(?P<model>\w+)"),
    _rule(r"SonyCEBrowser/[\d.]+ \((?:BDPlayer; )?(?P<model>[\w-]+)", TV, "Sony", "{model}", sure=False),
    _rule(r"Opera TV Store/\d+; (?P<brand>[A-Za-z]+);[0-9A-Fa-f]{12};(?P<model>[\w-]+)", TV, "{brand}", "{model}",
          sure=False),
    # Operator-box makers that name themselves next to the model:
    # "(Technicolor_DXI807FT; ...)", "(ADB; TNR-5720CDX)".
    _rule(r"\((?P<brand>Technicolor|Sagemcom|Kaon|ADB|Pace|Humax|Amino|Arris|ARRIS|Motorola|Cisco|Entone|"
          r"Albis|Kreatel)[_; ]+(?P<model>[A-Z0-9][\w-]{2,})", STB, "{brand}", "{model}"),
    _rule(r"YouView", STB, "", "", platform="youview", sure=False),
    _rule(r"(?i)\bNetgem|NetgemTV|\bNGTV\b", STB, "Netgem", "", platform="netgem"),
    _rule(r"Media-Highway|MediaHighway", STB, "Cisco", "MediaHighway", platform="mediahighway"),
    _rule(r"(?i)opentv|otvwebkit", STB, "", "", platform="opentv", sure=False),
    _rule(r"TiVo-Device|\bTiVo\b", STB, "TiVo", "", platform="tivo", sure=False),
    _rule(r"(?i)\bHorizon\b.*\b(?:Liberty|UPC)\b|\bEOSSTB\b|\bDCX960\b", STB, "", "", platform="horizon",
          sure=False),
    # TV sets' own platforms: the maker comes from the string when it names
    # one, never from the platform alone (webOS runs on JVC and MTS sets too,
    # VIDAA on Toshiba, NETTV on Panasonic and TCL).
    _rule(r"(?i)\bTizen[ /]?(?P<osver>\d+(?:\.\d+)*)?(?!.*Mobile)", TV, "", "", "Tizen {osver}",
          platform="tizen", sure=False),
    # SmartHub/Maple (Orsay) and NetCast were never licensed to other makers:
    # the token names Samsung and LG as surely as a brand would.
    _rule(r"\bSmartHub\b|\bMaple\d{4}|\bMaple ?\d\.", TV, "Samsung", "", "Orsay", platform="orsay", sure=False),
    _rule(r"\bWeb0S\b|(?i:\bwebos\.tv\b|\bwebos\b.*\bSmartTV\b)", TV, "", "", "webOS", platform="webos",
          sure=False),
    _rule(r"NetCast", TV, "LG", "{model}", "NetCast", platform="netcast", sure=False,
          extract=(r"Model/(?P<model>[\w.-]+)", r"LGE; ?(?P<model>[\w.-]+);")),
    _rule(r"\bVIDAA\b", TV, "", "", "VIDAA", platform="vidaa", sure=False),
    _rule(r"\bNETTV/", TV, "", "", "", platform="nettv", sure=False),
    _rule(r"Panasonic MIL DLNA", SMARTTV, "Panasonic", "", platform="viera"),
    _rule(r"\bViera\b", TV, "", "", "", platform="viera", sure=False),
    _rule(r"\bSmartCast\b|\bVIZIO\b", TV, "", "", "", platform="smartcast", sure=False),
    _rule(r"\bHybridcast\b|InettvBrowser", TV, "", "", "", platform="hybridcast", sure=False),
    _rule(r"\bsmarttv_", TV, "", "", "", platform="vewd-tv", sure=False),
    _rule(r"(?i)\bSaphi\b", TV, "", "", "", platform="saphi", sure=False),
    # Google Fiber's TV boxes also carry a CrKey token; Nest Hub smart displays
    # run the Cast receiver on Fuchsia.
    _rule(r"\bGoogle Fiber\b|\bGFHD\d{3}\b", STB, "Google", "{model}", extract=r"\b(?P<model>GFHD\d{3})\b"),
    _rule(r"\bFuchsia\b.*\bCrKey\b", OTHER, "Google", "Nest Hub"),
    _rule(r"\bCrKey\b|\bChromecast\b", TV_STICK, "Google", "Chromecast"),
    # DLNA renderers: Samsung's "SEC_HHP_[TV] UE40ES6800/1.0" (or [HT], [BD]),
    # LG's "LGE_DLNA_SDK", Sony's "Sony-BRAVIA" (UMS renderer profiles).
    _rule(r"SEC_HHP_ ?(?:\[(?P<kind>TV|HT|BD|PC)\]|(?=(?P<kind2>BD|HT)[- ])|(?P<kind3>TV)[- ])? ?(?:Samsung )?"
          r"(?P<model>[^/]*?)(?:/|$)",
          lambda g: {"TV": SMARTTV, "HT": STB, "BD": STB, "PC": OTHER}.get(
              g.get("kind") or g.get("kind2") or g.get("kind3"), TV),
          "Samsung", "{model}", platform="dlna"),
    _rule(r"LGE_DLNA_SDK|LG-?DLNA", TV, "LG", "", platform="dlna", sure=False),
    # Per the HbbTV spec (ETSI TS 102 796, 7.3.2.4): HbbTV/x (capabilities;
    # vendor; model; software version; hardware version; reserved).
    _rule(r"(?i)HbbTV/[\d.]+ ?\((?P<caps>[^;)]*);\s*(?P<brand>[^;)]*);\s*(?P<model>[^;)]*)|HbbTV/",
          TV, "{brand}", "{model}", platform="hbbtv", sure=False),
    # Opera/Vewd and OIPF browsers append "(Vendor, Model, wired)".
    _rule(_VENDOR_SUFFIX, TV, "{vendor}", "{vmodel}", platform="oipf", sure=False),
    _rule(r"(?i)\bEkioh\b", TV, "", "", platform="ekioh", sure=False),
    _rule(r"(?i)\bEspial\b", TV, "", "", platform="espial", sure=False),
    _rule(r"\bWPE\b|\bWPEWebKit\b|\bRDK\b", STB, "", "", platform="wpe", sure=False),
    # Google TV 1-4: "GoogleTV/…", "GoogleTV 3.2", "… Google TV …", "Large
    # Screen Safari", and Android 3.2 / 4.2 builds tagged Build/MASTER.
    _rule(r"(?i)GoogleTV|Google ?TV|Large Screen Safari|Build/MASTER\b", TV, "", "", "Google TV",
          platform="googletv", sure=False),
    # No-name Android TV boxes are sold under their board/series names.
    _rule(r"(?i); ?(?P<model>(?:X96|T95|H96|MXQ|TX\d|A95X|HK1|M8S|X88|T96)[^;)]*?)" + _ANDROID_MODEL_END
          + r"|\bTV ?Box\b", STB, "", "{model}", sure=False),
)

APPS = (
    # Specific players first: most of them also carry a library token
    # (TiviMate and OTT Navigator embed ExoPlayer, Kodi embeds FFmpeg).
    (r"\bKodi/(?P<ver>[\d.]+)", "Kodi"),
    (r"\bXBMC/(?P<ver>[\w.-]+)", "XBMC"),
    (r"\bTiviMate/(?P<ver>[\d.]+)", "TiviMate"),
    (r"(?i)\bOTT ?Navigator(?:/(?P<ver>[\d.]+))?", "OTT Navigator"),
    (r"\bGSE(?i:[ _-]?smart)?(?i:[ _-]?iptv)?(?i:[ _-]?pro)?(?:/(?P<ver>[\d.]+))?(?![A-Za-z])", "GSE IPTV"),
    (r"(?i)\bSmart ?IPTV\b(?:/(?P<ver>[\d.]+))?", "Smart IPTV"),
    (r"(?i)\bSS ?IPTV\b(?:/(?P<ver>[\d.]+))?", "SS IPTV"),
    (r"(?i)\bPerfect ?Player\b(?:/(?P<ver>[\d.]+))?", "Perfect Player"),
    (r"(?i)\bIPTV ?Smarters(?: ?Pro)?(?:/(?P<ver>[\d.]+))?", "IPTV Smarters"),
    (r"(?i)\bTelevizo\b(?:/(?P<ver>[\d.]+))?", "Televizo"),
    (r"(?i)\bXCIPTV\b(?:/(?P<ver>[\d.]+))?", "XCIPTV"),
    (r"(?i)\bSparkle[ _-]?(?:TV|IPTV|Player)\b(?:/(?P<ver>[\d.]+))?", "Sparkle TV"),
    (r"\bMYTVOnline\d?(?:/(?P<ver>[\d.]+))?", "MYTVOnline"),
    (r"(?i)\bLazy ?IPTV\b(?:/(?P<ver>[\d.]+))?", "Lazy IPTV"),
    (r"(?i)\bProgTV\b(?:/(?P<ver>[\d.]+))?", "ProgTV"),
    (r"(?i)\bOttPlayer\b(?:/(?P<ver>[\d.]+))?", "OttPlayer"),
    (r"(?i)\bPeers\.?TV\b(?:/(?P<ver>[\d.]+))?", "Peers.TV"),
    (r"(?i)\bIPTVnator\b(?:/(?P<ver>[\d.]+))?", "IPTVnator"),
    (r"(?i)\bSmartTube\b(?:/(?P<ver>[\d.]+))?", "SmartTube"),
    (r"(?i)\bStremio\b(?:/(?P<ver>[\d.]+))?", "Stremio"),
    (r"(?i)\bMovian\b(?:/(?P<ver>[\d.]+))?|\bShowtime/(?P<ver2>[\d.]+)", "Movian"),
    (r"(?i)\bInfuse\b(?:[-/](?P<ver>[\d.]+))?", "Infuse"),
    (r"(?i)\bJellyfin Media Player\b(?:/(?P<ver>[\d.]+))?|\bJellyfin(?:Android|Web)\b", "Jellyfin client"),
    (r"(?i)\bPlex(?: Media Player|HTPC|-for-)\S*(?:/(?P<ver>[\d.]+))?", "Plex client"),
    (r"(?i)\bEmby Theater\b(?:/(?P<ver>[\d.]+))?", "Emby Theater"),
    (r"(?i)\bAce ?Stream\b(?:/(?P<ver>[\d.]+))?|\bAcePlayer\b(?:/(?P<ver2>[\d.]+))?", "Ace Stream"),
    (r"(?i)\bnPlayer\b(?:[ /](?P<ver>[\d.]+))?", "nPlayer"),
    (r"(?i)\bMX ?Player\b(?:/(?P<ver>[\d.]+))?", "MX Player"),
    (r"(?i)\bJust ?Player\b(?:/(?P<ver>[\d.]+))?", "Just Player"),
    (r"(?i)\bIINA\b(?:/(?P<ver>[\d.]+))?", "IINA"),
    (r"(?i)\bPotPlayer\b(?:/(?P<ver>[\d.]+))?", "PotPlayer"),
    (r"(?i)\bKMPlayer\b(?:/(?P<ver>[\d.]+))?", "KMPlayer"),
    (r"\bMPlayer\b(?:[ /](?P<ver>[\w.-]+))?", "MPlayer"),
    (r"\bstbapp\b", "stbapp"),
    (r"\b(?:VLC|LibVLC)/(?P<ver>[\d.]+)|\bVLC media player\b", "VLC"),
    (r"\b(?:lib)?mpv\b(?:[ /]v?(?P<ver>\d[\d.]*))?", "mpv"),
    (r"(?i)\bWindows-Media-Player/(?P<ver>[\d.]+)|\bNSPlayer/(?P<ver2>[\d.]+)|\bWMPlayer\b|\bWMFSDK/",
     "Windows Media Player"),
    (r"\bQuickTime\b(?:[ /]?(?P<ver>[\d.]+))?", "QuickTime"),
    (r"\bExoPlayerLib/?(?P<ver>\d[\d.]*)|\bExoPlayer(?!.*ExoPlayerLib)", "ExoPlayer"),
    (r"\bAndroidXMedia3/(?P<ver>[\d.]+)", "Media3"),
    (r"(?i)\bstagefright/(?P<ver>[\d.]+)", "stagefright"),
    (r"\bAppleCoreMedia/(?P<ver>[\d.]+)", "AppleCoreMedia"),
    (r"\bLavf/?(?P<ver>\d[\d.]*)|\bFFmpeg\b|\bffprobe\b", "Lavf"),
    (r"(?i)\bGStreamer(?: souphttpsrc)?(?: ?/?(?P<ver>\d[\d.]*))?", "GStreamer"),
)
# Libraries: the app is a media library, not a named player.
_LIBRARIES = frozenset({"ExoPlayer", "Media3", "stagefright", "AppleCoreMedia", "Lavf", "GStreamer"})

# Servers that fetch streams to re-serve them to their own viewers: one
# session of theirs can stand for a household or a whole restreaming business.
RESTREAMERS = (
    (r"(?i)\bxTeVe(?:/(?P<ver>[\d.]+))?", "xTeVe"),
    (r"(?i)\bThreadfin(?:[-/](?P<ver>[\w.]+))?", "Threadfin"),
    (r"(?i)\bTVHeadend(?:/(?P<ver>[\w.~-]+))?", "Tvheadend"),
    (r"(?i)\bJellyfin-Server(?:/(?P<ver>[\d.]+))?", "Jellyfin Server"),
    (r"(?i)\bEmby(?: ?Server)?/(?P<ver>[\d.]+)|\bEmby Server\b", "Emby Server"),
    (r"(?i)\bPlex ?Media ?Server(?:/(?P<ver>[\d.]+))?", "Plex Media Server"),
    (r"(?i)\bChannels ?DVR\b(?:/(?P<ver>[\d.]+))?", "Channels DVR"),
    (r"(?i)\bNextPVR\b(?:/(?P<ver>[\d.]+))?", "NextPVR"),
    (r"(?i)\bDispatcharr\b(?:/(?P<ver>[\d.]+))?", "Dispatcharr"),
    (r"(?i)\bStreamMaster\b(?:/(?P<ver>[\d.]+))?", "StreamMaster"),
    (r"(?i)\biptv-?proxy\b(?:/(?P<ver>[\d.]+))?", "iptv-proxy"),
    (r"(?i)\bErsatzTV\b(?:/(?P<ver>[\d.]+))?", "ErsatzTV"),
    (r"(?i)\bTunarr\b(?:/(?P<ver>[\d.]+))?", "Tunarr"),
    (r"(?i)\bAstra/(?P<ver>[\d.]+)|\bCesbo\b", "Astra"),
    (r"(?i)\bFlussonic\b(?:[ /](?P<ver>[\d.]+))?", "Flussonic"),
    (r"(?i)\bNimble/(?P<ver>[\d.]+)", "Nimble Streamer"),
    (r"(?i)\bWowza\b(?:[\w ]*?/(?P<ver>[\d.]+))?", "Wowza"),
    (r"(?i)\budpxy\b(?:[ /](?P<ver>[\d.]+))?", "udpxy"),
    (r"(?i)\bMediaMTX\b(?:/(?P<ver>[\w.]+))?", "MediaMTX"),
)

_COMPILED_APPS = tuple((re.compile(p), n) for p, n in APPS)
_COMPILED_RESTREAMERS = tuple((re.compile(p), n) for p, n in RESTREAMERS)

# Command-line clients, HTTP libraries and crawlers.
BOTS = re.compile(
    r"(?i)^(?:curl|wget|python-requests|python-urllib|python-httpx|aiohttp|go-http-client|java/|"
    r"apache-httpclient|libwww-perl|httpie|axios|node-fetch|got \(|powershell|scrapy)|"
    r"(?:googlebot|bingbot|yandex(?:bot|images)|baiduspider|duckduckbot|slurp|ahrefsbot|semrushbot|"
    r"applebot|petalbot|mj12bot|facebookexternalhit|crawler|spider|\bbot\b|bot/)")
_CRAWLER_NAME = re.compile(r"(?i)([a-z][\w.-]*?(?:bot|spider|crawler|facebookexternalhit|slurp))(?:/v?(\d[\w.]*))?")
_TOOL_NAME = re.compile(r"^([A-Za-z][\w.-]*)(?:/v?(\d[\w.]*))?")
_DESKTOP = re.compile(r"Windows NT|\bWindows(?:;| XP|-XP| 98| 2000| \d)|Win64|WOW64|Macintosh|"
                      r"Mac OS X(?!.*(?:iPhone|iPad|Mobile|AppleTV|Apple TV))|"
                      r"X11; (?:Ubuntu; )?Linux (?:x86_64|i686)|\bUbuntu/|CrOS|\bFreeBSD\b(?!.*Viera)")
_ANDROID = re.compile(r"(?i)\bAndroid\b")
# Android TV signals that carry no maker: the platform's own names, and the
# build ids of Android TV releases (PTT1, QTT1, RTT0, STTE, STTL, UTT3... the
# "T" for TV in the second letter of the AOSP build id; Google's and the
# makers' published builds: Chromecast STTE.230319.008, BRAVIA STT1.211025.001,
# SHIELD/ADT-2 PTT5.181126.002, Strong LEAP-S1 QTT5.200819.003).
_ANDROID_TV = re.compile(
    r"(?i)\bAndroid ?TV\b|\bAndroidTV\b|\bATV\d?\b|Build/[PQRSTU]T[TGSE]?[A-Z0-9]?\d?\.|\bGoogle ?TV\b|"
    r"\bDTV_|\b(?:Smart-?TV|SmartTV)\b|\bTV Safari\b|\bTV Bro\b|\bleanback\b|\bAFT[A-Z]")
_ANDROID_MODEL = re.compile(
    r"(?i)(?:Android|GoogleTV)[ /][\d.]+[;,]? (?:[a-z]{2}[-_][a-z]{2}; )?(?P<model>[^;)]+?)(?: Build/| Build\b|;|\))"
    r"|\((?P<model2>[^;()]{2,40}); Android [\d.]+\)")
_NOT_MODELS = re.compile(r"(?i)^(?:wv|k|u|linux|mobile|tablet|en|arm|arm64|x86|\d[\d.]*|armv\w+|aarch64)$")
_X_MODEL = re.compile(r"(?i)\bmodel\s*[:=]\s*(?P<model>[^;,\s][^;,]*)")
_TEMPLATE_FIELD = re.compile(r"\{(\w+)\}")


# TV makers whose name, standing alone in a platform's string, is the maker
# (NETTV on Philips, Panasonic and TCL sets, VIDAA on Toshiba, webOS on JVC).
_MAKER_WORD = re.compile(r"(?i)(?<![\w/])(Philips|Panasonic|TCL|Toshiba|JVC|Sharp|Hisense|LGE|Vizio|Sony|Grundig|"
                         r"Loewe|Metz|Thomson|Telefunken|Medion|Hitachi|Sanyo|Skyworth|Changhong|Konka|Haier)"
                         r"(?![\w])")


def deobfuscate(ua):
    for bad, good in _DEOBFUSCATE:
        if bad in ua:
            ua = ua.replace(bad, good)
    return ua


def _fill(template, groups):
    def field_(m):
        value = groups.get(m.group(1)) or ""
        return value.replace("_", ".") if m.group(1).endswith("ver") else value
    return " ".join(_TEMPLATE_FIELD.sub(field_, template).split())


def _groups(rule, match, text):
    groups = {k: v for k, v in match.groupdict().items() if v}
    for pattern in rule.extract:
        extra = pattern.search(text)
        if extra:
            groups.update((k, v) for k, v in extra.groupdict().items() if v and k not in groups)
    return groups


def hardware(text):
    """The first hardware rule's Hardware for `text`, else None."""
    if not text:
        return None
    for rule in HARDWARE:
        match = rule.pattern.search(text)
        if not match:
            continue
        groups = _groups(rule, match, text)
        model = _fill(rule.model, groups).strip(" -")
        brand = names.canonical(_fill(rule.brand, groups))
        type_ = rule.type(groups) if callable(rule.type) else rule.type
        hw = Hardware(type_, brand, model, _fill(rule.os, groups), rule.platform, rule.sure)
        return _refine(hw, text)
    return None


def _refine(hw, text):
    """Fill a platform rule's maker and model from the rest of the string."""
    product = re.search(r"(?P<product>[A-Za-z_][\w .+-]{1,40}?)/[^\s(]*\s?" + _VENDOR_SUFFIX, text)
    hint = product.group("product").strip() if product else hw.hint
    if hw.brand and hw.model:
        return Hardware(hw.type, hw.brand, hw.model, hw.os, hw.platform, hw.sure, hint)
    brand, model = hw.brand, hw.model
    suffix = re.search(_VENDOR_SUFFIX, text)
    if suffix and hw.platform != "oipf" and hw.platform not in ("tizen", "orsay"):
        brand = brand or names.canonical(suffix.group("vendor"))
        model = model or suffix.group("vmodel").strip()
    lg = re.search(r"(?:LG Browser|PBRM)/[\d.]+ ?\((?P<fields>[^)]*)\)", text)
    if lg and (not brand or not model):
        fields = [f.strip() for f in lg.group("fields").split(";")]
        for i, value in enumerate(fields):
            if names.canonical(value) == "LG" and i + 1 < len(fields):
                brand = brand or "LG"
                model = model or fields[i + 1].replace("Media/", "")
                break
    if (not brand or not model) and hw.platform != "enigma2":
        hbb = re.search(r"(?i)HbbTV/[\d.]+ ?\([^;)]*;\s*(?P<brand>[^;)]*);\s*(?P<model>[^;)]*)", text)
        if hbb:
            brand = brand or names.canonical(hbb.group("brand"))
            model = model or hbb.group("model").strip()
    if hw.platform == "firetv-edition" and brand == "Amazon":
        # Fire TV Edition sets put "AFTxxx-<maker>-<model>" in the HbbTV slot.
        maker = re.search(r"AFT\w+-(?P<maker>[A-Za-z]+)-", text)
        brand = names.canonical(maker.group("maker")) if maker else ""
    if hw.platform == "tizen" and not model:
        tz = re.search(r"(?i)\bSAMSUNG[ -](?P<model>[A-Z]{2}\d{2}[A-Z0-9]+)", text)
        model = tz.group("model") if tz else model
    if not brand:
        maker = re.search(r"(?i)\bModel/(?P<vendor>[A-Za-z]+)[-_](?P<model>[\w-]+)", text)
        if maker:
            brand = names.canonical(maker.group("vendor"))
            model = model or maker.group("model")
    if not brand and hw.platform:
        named = _MAKER_WORD.search(text)
        brand = names.canonical(named.group(1)) if named else ""
    if not brand:
        android = android_model(text)
        first = re.split(r"[ _-]", android)[0] if android else ""
        if first and tvsplit.is_known_maker(names.canonical(first)):
            brand = names.canonical(first)
    return Hardware(hw.type, brand, model, hw.os, hw.platform, hw.sure, hint)


def _version(match):
    groups = match.groupdict()
    return groups.get("ver") or groups.get("ver2") or ""


def app(text):
    """(name with version, kind, where it starts) of the player, library or restreaming server."""
    for pattern, name in _COMPILED_RESTREAMERS:
        match = pattern.search(text)
        if match:
            return f"{name} {_version(match)}".strip(), "restreamer", match.start()
    for pattern, name in _COMPILED_APPS:
        match = pattern.search(text)
        if match:
            return f"{name} {_version(match)}".strip(), "library" if name in _LIBRARIES else "player", match.start()
    return "", "", -1


def bot(text):
    match = BOTS.search(text)
    if not match:
        return ""
    named = _CRAWLER_NAME.search(text) or _TOOL_NAME.search(text)
    if named:
        return f"{named.group(1)} {named.group(2) or ''}".strip()
    return match.group(0).strip("/ (")


def android_model(text):
    match = _ANDROID_MODEL.search(text)
    if not match:
        return ""
    model = (match.group("model") or match.group("model2") or "").strip()
    return "" if _NOT_MODELS.match(model) or "Android" in model else model


def x_model(xua):
    match = _X_MODEL.search(xua or "")
    return match.group("model").strip() if match else ""


def scan(ua, xua=""):
    text = deobfuscate(ua)
    found = Scan()
    found.app, found.app_kind, where = app(text)
    found.app_first = where == 0
    if found.app_kind != "restreamer":
        found.bot = bot(text) if not found.app else ""
    hw_x = hardware(xua) if xua else None
    hw_ua = hardware(text)
    hw = hw_x or hw_ua
    if hw is not None:
        model = x_model(xua)
        if model:
            hw = Hardware(hw.type, hw.brand, model, hw.os, hw.platform, hw.sure, hw.hint)
        if hw_x is not None and hw_ua is not None and hw_ua.os and not hw.os:
            hw = Hardware(hw.type, hw.brand, hw.model, hw_ua.os, hw.platform, hw.sure, hw.hint)
    found.hardware = hw
    found.android = bool(_ANDROID.search(text))
    found.desktop = bool(_DESKTOP.search(text)) and not found.android
    tv = _ANDROID_TV.search(text)
    found.tv_hint = tv.group(0) if tv else ""
    found.model_hint = android_model(text) if found.android or "GoogleTV" in text else ""
    return found
