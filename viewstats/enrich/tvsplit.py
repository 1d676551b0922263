"""TV-side devices split into set-top boxes, sticks and TV sets.

Device databases (Matomo's Device Detector, uap-core, WhichBrowser) put every
box, stick and TV set in one "tv" class. Operators plan, buy and support the
three separately, so this module splits them from the brand, the model and
the platform, in this order (the first rule that decides wins):

1. Model names. A marketing name or model code that says what the product is:
   "Stick", "Dongle", "Chromecast" → stick; "Box", "Cube", "Receiver", "STB",
   "Player" → box; a screen size or a TV series ("55UJ6309", "KDL-42W805A",
   "LED32", "Smart TV", "Android TV" on a TV maker's model) → TV set. The
   words are those of the makers' own product names as Device Detector's
   device database spells them (regexes/device/televisions.yml, mobiles.yml:
   "Fire TV Stick 4K", "MiTV Stick", "TV Box S", "Smart Box", "Media Stick 4K").
2. Model codes of the few makers whose codes say nothing by themselves:
   Amazon's Fire TV codes (developer.amazon.com, "Fire TV Device
   Specifications": AFTM/AFTT/AFTSS/AFTSSS/AFTMM/AFTKA/AFTKM/AFTKRT… sticks,
   AFTB/AFTS/AFTN boxes, AFTA/AFTR/AFTGAZL Cubes, every other code a Fire TV
   Edition set), Roku's model numbers (developer.roku.com "Hardware
   specifications": 3400X–3899X sticks, other players boxes, 5000X–8xxxX,
   A000X… reference designs for TV makers) and Xiaomi's MiTV codes
   (MiTV-Axxxx sticks and boxes, MiTV-Mxxxx sets).
3. The maker, when it makes only one kind of TV-side product: satellite and
   cable receiver makers (Humax, Dreambox, VU+, Inverto, Kathrein, TechnoTrend,
   Amiko, Edision…), operator box makers (Infomir, Amino, Arris/Motorola,
   Sagemcom, Technicolor, Kaon, SEI Robotics, ZTE and Huawei IPTV boxes…) and
   Android-box brands (Formuler, Dune HD, Zidoo, Ugoos, Beelink, Mecool…)
   → box; TV-set makers (Samsung, LG, Sony, Philips/TP Vision, Panasonic,
   Hisense, TCL, Vestel and its brands, Loewe, Metz, Grundig…) → TV set,
   unless rule 1 found a box or stick among their products (Philips and
   Panasonic Blu-ray players, Sony's NSZ Google TV boxes, TCL's boxes).
4. The platform: Tizen, webOS, NetCast, VIDAA, Orsay/Maple, Viera, NETTV,
   Saphi, SmartCast, Hybridcast, Roku TV, Fire TV Edition and "smarttv_"
   builds are TV sets' own systems (each vendor's developer documentation of
   its User-Agent) → TV set; Enigma2, Android TV operator builds, the STB
   browsers (KreaTV, YouView, Ekioh, Espial, Opera Devices with a box model,
   WPE on RDK, Netgem, OpenTV, MediaHighway) → box.
5. Otherwise a TV-side device is a box: Android TV boxes far outnumber Android
   TV sets that hide their maker and size in the model name.
"""
import re

from . import names

STB, SMARTTV, TV_STICK = "stb", "smarttv", "tv_stick"

# ----------------------------------------------------------------- 1. model names
_STICK_WORDS = re.compile(
    r"(?i)stick|dongle|chromecast|\bcrkey\b|\btv ?key\b|la ?cl[ée]|\bmodule\d?\b")
_BOX_WORDS = re.compile(
    r"(?i)(?<!x)(?<!drop)(?<!sand)(?<!in)box|\bstb|stb[\d_ -]|set.?top|\bcube\b|receiver|\bpvr\b|\bdvr\b"
    r"|recorder|media ?(?:player|streamer|centre|center|hub)|streaming (?:player|device)|\bplayer\b"
    r"|blu-?ray|\bbdp|\bbd[- ]?[a-z]?\d|\bbdv|\bdiga\b|\bott\b|iptv|\bdvb\b|\bipc\d|\bvip\d|\bshield\b"
    r"|\bnexus player\b|\bstreamer\b|\bultra\b|\bexpress\b|\bpremiere\b|\bsoundbar|\btivo\b|\bdtr"
    r"|\bhdr-?\d|\bfvp|\bhms|\bhgs|\bicord|\bco-?star\b|\bmedia/|netcast\.media|\bhome ?theat")
# A TV-set word on its own ("Vodafone TV", "Telia TV", "True ID TV") is how
# operators name their boxes too: it decides only when the maker does not.
_WEAK_TV = re.compile(r"(?i)(?<![a-z])(?:tv|android ?tv|google ?tv|smart ?tv|dtv)(?![a-z])")
_TV_WORDS = re.compile(
    r"(?i)(?<![a-z])(?:\bled\b|\blcd\b|\boled|\bqled|\bqned|\buhd ?(?:android )?tv|\bbravia|\baquos|\bviera\b"
    r"|\bregza|\bhdtv|\bfhd\b|\bprojector|\bproj\b|\btelevision|\bfire tv (?:edition|omni|\d-series|\d?k\b|hd\b)"
    r"|\bomni\b|\b\d-series|\bmultyvision|\bhismart ?tv|\bsmart ?tv \(|\binternet tv\b)")
# A screen size at the start of a model code or after a TV maker's series
# letters: 32, 40, 43, 50, 55, 65, 75, 85, 98 inches (LG 43UJ6309, Sony
# KD-55X9005A / KDL-42W805A, Samsung UE40/QE55/UN40, Philips 43PUS7555,
# Hisense 55A7, TCL 50P615, Sharp LC-40, Vestel-made 32HK...).
_SIZE = r"(?:19|2[2-9]|3[0-9]|4[0-9]|5[0-9]|6[0-5]|7[0-9]|8[0-6]|98|100)"
_TV_SIZE_CODE = re.compile(
    r"(?i)^(?:(?:kdl?|xr|kd|lc|le|led|lt|ue|un|qe|qn|tx|tq|hx|ua|hg|lh|lk|tf|sl|ptv|stv|ld|ct|hty)[-_ ]?"
    + _SIZE + r"[a-z]"
    r"|" + _SIZE + r"(?:[a-z]{1,4}\d|\d?[a-z]{2}|\"|in\b|[-_ ]?inch))"
    r"|(?<![a-z0-9])" + _SIZE + r"(?:pus|pfs|pfh|pfl|pml|oled|uj|uk|um|un|uq|ur|lm|lh|lk|la|lb|lf|ln|nano|qned)\d")
_SIZE_WITH_LED = re.compile(r"(?i)(?<![a-z])(?:led|lcd|tv)[-_]?" + _SIZE + r"(?:\b|[a-z_-])")

# ------------------------------------------------------------- 2. model codes
# Amazon: developer.amazon.com/docs/fire-tv/device-specifications (identifying
# Fire TV devices by build model). Every other AFT code is a TV set.
FIRE_TV_STICKS = frozenset({"AFTM", "AFTT", "AFTSS", "AFTSSS", "AFTMM", "AFTKA", "AFTKM", "AFTKRT",
                            "AFTCL001", "AFTCA002", "AFTSO"})
FIRE_TV_BOXES = frozenset({"AFTB", "AFTS", "AFTN", "AFTA", "AFTR", "AFTGAZL", "AFTRS1"})


def fire_tv_type(code):
    code = code.upper()
    if code in FIRE_TV_STICKS:
        return TV_STICK
    return STB if code in FIRE_TV_BOXES else SMARTTV


# Roku: developer.roku.com/docs/specs/hardware.md. Streaming Sticks are
# 3400X/3420X (MHL), 3500X, 3600X, 3800X, 3810X/3811X (Stick+), 3820X/3821X
# (4K/4K+); Express, Premiere, Ultra, Roku 1–4 and Streambars are boxes;
# x000X numbers and 7104X-like ones are the TV makers' reference designs.
def roku_type(number):
    number = number.upper().rstrip("XREU")
    if not number:
        return STB
    if number[0] in "5678ABCDEFG" and len(number) == 4:
        return SMARTTV
    if number[:2] in ("34", "35", "36", "38"):
        return TV_STICK
    return STB


# Xiaomi: MiTV-AESP0, MiTV-AYFR0, MiTV-ANSP0 (sticks) and MiTV-AFKR0 (TV Box S
# 2nd gen) start with A; TV sets (MiTV-MSSP2, MiTV-MOOQ0, MiTV-MTEQ0, MiTV4I,
# MiTV-AXSO "4A Pro") have other letters.
_XIAOMI_STICKS = frozenset({"AESP0", "AYFR0", "ANSP0"})
_XIAOMI_BOXES = frozenset({"AFKR0"})


def xiaomi_type(code):
    code = code.upper()
    if code in _XIAOMI_STICKS:
        return TV_STICK
    if code in _XIAOMI_BOXES:
        return STB
    return SMARTTV


# --------------------------------------------------------------- 3. makers
# Brands as names.canonical spells them.
STB_MAKERS = frozenset(map(str.lower, """
Infomir MAG Amino Arris Motorola Sagemcom Technicolor Thomson-STB Kaon SEI Robotics ZTE Huawei-STB Humax
Dreambox DMM Vu+ VU+ Inverto Kathrein TechnoTrend Amiko Edision Xtrend Gigablue Zgemma Octagon Skymaster
Homecast Topfield Coship Formuler Dune HD Zidoo Ugoos Beelink Mecool Minix Tanix Vontar Transpeed X96 H96
A95X T95 HK1 MXQ Nexbox Sunvell Magicsee Vorke Rikomagic Tronsmart Khadas Yundoo Eltex TVIP Openbox
Galaxy Innovations Golden Interstar Uclan WeTek Pendoo BuzzTV Dreamlink Apple Roku NVIDIA Nvidia Nokia
Strong Freebox free Bbox Livebox Orange Canal+ Canal Digital Telia MEO Vodafone TIMvision Sky Virgin Media
Foxtel Fetch Fetch TV TiVo DirecTV Airties AirTies Netgem Kreatel Cisco Selevision UEC Altech UEC INTEK
Winbox HyperPanel IP4TV iWedia Digisoft.tv ADB Pace Tricolor Wink Movix Dom.ru SberBox Sber Yandex
MTC MTS Beeline Smotreshka Rostelecom TTK-TV Kingbox EVPAD Unblock Tech SuperBOX Homatics Nexon
IconBIT Rombica DIGIFORS Invin GTMEDIA Xcruiser Divisat Skytech Q-Box MBOX Andowl Alfawise Vinabox
X88 X96Q T96 Geotex ProVision Leelbox Atom OzoneHD Silelis 4ife Kata Yoka TV Orbsmart TOX Topsion
Sumvision DangcapHD ThL Lime Sveon DSDevices ViBox Youin Zealot Eagle Harper Elenberg Khadas Safaricom
NTT West Hathway GOtv United Group Megacable Bell SK Broadband Telkom VOLIA O2 Panodic Imaq Droidlogic
Techstorm WeChip IOTWE Globmall TriaPlay Filimo NetBox TADAAM Play Now Dinalink Dynalink COOD-E SMUX
CADENA TECHNOSAT SoulLink Vision Technology PVBox Korax iHome Life LongTV Wiwa WIWA Noontec Vinga
Mito Kanji Perfeo Savio ELE-GATE Paladin MyGica Legend Billow DreamStar DiverMax Blackpcs DEALDIG 10moons
NGpon Rupa Nomi iLepo YUNDOO Scishion Ematic Element-STB Vizio-STB Boxee Logitech Netgear NETGEAR
Asus-STB Mag Aura Technisat-STB SkyStream Orbita Tvip Amigo JCOM jcom Freesat YouView BT Talk Talk TalkTalk
Sagem Zyxel Arcadyan Kreatv KreaTV Motorola-STB Entone Minerva Albis Aminet Telergy Tatung-STB
Ekioh Espial Opentv Nagra NAGRA Mediahighway BrightSign Skyworth-STB Xiaomi-STB Google-STB
""".split()))
STICK_MAKERS = frozenset()
TV_MAKERS = frozenset(map(str.lower, """
Samsung LG Sony Philips Panasonic Hisense TCL Vestel Loewe Metz Grundig Sharp Toshiba Telefunken Hitachi
JVC Finlux Medion Thomson Blaupunkt Bush Luxor Polaroid Digihome Turbo-X Lifemaxx ALDI Celcus Funai Orion
Crown NEO Kivi DEXP BBK Asano Starwind Hartens Leff Hyundai Erisson Tuvio Soundmax Digma TopDevice
PolarLine Polar Harper-TV Mystery Vekta CENTEK Novex Doffler Hiberg Skyline AOC AMCV TD Systems Akai
Vityaz Sunny NEKO HIPER-TV ECON V-HOME SUNWIND RAZZ Irbis Horizont Hiremco Haier HOLLEBERG Maunfeld
Elekta AWOX YASIN QWATT Lumus GoldMaster Saba Shivaki Selenga Samtron REGAL OLTO Nordmende Loview Evolveo-TV
EKO Changhong Arçelik Arcelik Beko Altus Kogan Konka Skyworth Vizio Insignia Westinghouse Element RCA
Onida Xiaomi Redmi Huawei-TV Prestigio Ergo Liberton Supra Leben Kvant Hi AKIRA Yuno Techwood Daewoo
DIKOM CLAYTON NORMANDE Orava Kendo HOFER Silva Schneider PROSONIC DIORA Elektroland NABO OCEANIC SEHMAX
VANGUARD WONDER MEGA VISION Linsar Mastertech Krüger&Matz ComTrade Tesla HKPro Miray Essentielb
Manta Multimedia Master-G evvoli UGINE Philco Dyon ONVO AXEN DIJITSU GVC Pro StreamSystem Telly
Tsinghua Tongfang XGEM Express LUCK Sanyo Mitsubishi Pioneer-TV Bang & Olufsen BANGOLUFSEN B&O IKEA PEAQ
THOM Seraphic SERAPHIC Mstar MStar Panavox VEON Fenoti Heimat Nordfrost ROCH SENNA Scoole Aceline Renova
GoldStar Newal Vortex Artel HEC Kraft BAFF Vivax Eurostar Accesstyle Irbis WANSA Gazer Atmaca Elektronik
Vesta Vodafone-TV Allview Kalley True Ok. ok. Sceptre Hisense-TV Magnavox Emerson Sansui Walton Aiwa
VIDAA Zeasn Changhong-TV Nokia-TV OnePlus Realme-TV Infinix Itel-TV TCL-TV iFFALCON Dyon Strong-TV
Cello Technika Logik Kendo JVC-TV Sunny Vestel-TV Regal Profilo Seg Noble NOBLE Sinotec Tesla
""".split()))
# Makers of both boxes and TV sets (or of TVs and sticks): the model decides,
# and without one these defaults apply.
# Makers that also sell phones or tablets are here too: their brand alone
# does not make a device TV-side.
MIXED_DEFAULT = {"xiaomi": SMARTTV, "redmi": SMARTTV, "skyworth": SMARTTV, "tcl": SMARTTV,
                 "hisense": SMARTTV, "huawei": SMARTTV, "technisat": STB, "humax": STB, "strong": STB,
                 "telestar": STB, "thomson": SMARTTV, "google": STB, "amazon": SMARTTV, "roku": STB,
                 "philips": SMARTTV, "panasonic": SMARTTV, "sony": SMARTTV, "lg": SMARTTV,
                 "samsung": SMARTTV, "realme": TV_STICK, "vizio": SMARTTV, "nokia": STB, "sharp": SMARTTV,
                 "toshiba": SMARTTV, "haier": SMARTTV, "lenovo": SMARTTV, "asus": STB, "motorola": STB,
                 "apple": STB, "nvidia": STB, "infomir": STB, "zte": STB, "alcatel": SMARTTV,
                 "oneplus": SMARTTV, "oppo": SMARTTV, "vivo": SMARTTV, "prestigio": SMARTTV,
                 "allview": SMARTTV, "bq": SMARTTV, "digma": SMARTTV, "irbis": SMARTTV, "dexp": SMARTTV,
                 "bbk": SMARTTV, "hyundai": SMARTTV, "blackview": SMARTTV, "archos": STB, "medion": SMARTTV,
                 "tesla": SMARTTV, "akai": SMARTTV, "polaroid": SMARTTV, "evolveo": STB, "kogan": SMARTTV,
                 "vodafone": STB, "orange": STB, "sky": STB, "telekom": STB, "kalley": SMARTTV,
                 "true": STB, "infinix": SMARTTV, "itel": SMARTTV, "realme-tv": SMARTTV, "meizu": SMARTTV,
                 "honor": SMARTTV, "walton": SMARTTV, "condor": SMARTTV, "vinga": STB, "wiko": SMARTTV, "onn": STB, "onn.": STB, "mito": STB}

# ------------------------------------------------------------- 4. platforms
TV_PLATFORMS = frozenset({"tizen", "webos", "netcast", "vidaa", "orsay", "viera", "nettv", "saphi",
                          "smartcast", "hybridcast", "rokutv", "firetv-edition", "titanos", "zeasn",
                          "vewd-tv", "aquos", "bravia", "vestel", "seraphic", "foxxum"})
STB_PLATFORMS = frozenset({"enigma2", "kreatv", "youview", "ekioh", "espial", "wpe", "netgem",
                           "opentv", "mediahighway", "stbapp", "dune", "rdk", "tivo", "operator-atv",
                           "horizon", "freesat", "boxee", "googletv-box"})


def model_type(model, weak=True):
    """The type a model name or code says by itself, else None.

    With `weak` False a bare "TV" in the name does not count (see _WEAK_TV).
    """
    if not model:
        return None
    model = model.replace("_", " ").strip()
    if _STICK_WORDS.search(model):
        return TV_STICK
    if _BOX_WORDS.search(model):
        return STB
    if _TV_WORDS.search(model) or _TV_SIZE_CODE.search(model) or _SIZE_WITH_LED.search(model):
        return SMARTTV
    if weak and _WEAK_TV.search(model):
        return SMARTTV
    return None


def maker_type(brand):
    key = (brand or "").lower()
    if not key:
        return None
    if key in MIXED_DEFAULT:
        return MIXED_DEFAULT[key]
    if key in STB_MAKERS:
        return STB
    if key in TV_MAKERS:
        return SMARTTV
    return None


def tv_only_maker(brand):
    """The TV-side type of a maker that sells no phones or tablets, else None."""
    key = (brand or "").lower()
    if not key or key in MIXED_DEFAULT:
        return None
    if key in STB_MAKERS:
        return STB
    if key in TV_MAKERS:
        return SMARTTV
    return None


# Google TV (2010-2014) ran mostly on boxes (Logitech Revue, Sony NSZ-GS7,
# Vizio Co-Star, Hisense Pulse, Netgear NeoTV Prime, Asus Cube); LG's G2/G3
# and Sony's NSX "Internet TV" were the TV sets.
_GOOGLE_TV_SETS = frozenset({"lg", "sharp"})


def split(brand, model, platform="", db_model="", default=STB, names_=()):
    """stb / tv_stick / smarttv for a TV-side device (see the module doc).

    `model` and `db_model` are the rules' and the database's model; `names_`
    more product names from the string (an OIPF product token, an Android
    model), checked after them.
    """
    brand_key = (brand or "").lower()
    candidates = [n for n in (model, db_model, *names_) if n]
    for name in candidates:
        found = model_type(name, weak=False)
        if found:
            return found
    if platform == "googletv":
        return SMARTTV if brand_key in _GOOGLE_TV_SETS else STB
    kind = maker_type(brand)
    if platform in STB_PLATFORMS:
        return STB
    if kind and brand_key not in MIXED_DEFAULT:
        return kind
    if platform in TV_PLATFORMS:
        return SMARTTV
    if kind == STB:
        return STB
    if any(_WEAK_TV.search(n.replace("_", " ")) for n in candidates):
        return SMARTTV
    if kind:
        return kind
    return default


def is_known_maker(brand):
    key = (brand or "").lower()
    return bool(key) and (key in MIXED_DEFAULT or key in STB_MAKERS or key in TV_MAKERS
                          or brand in names.ALIASES.values())
