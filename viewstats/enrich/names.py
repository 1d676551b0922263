"""Brand names as devices write them, mapped to one spelling.

Vendors fill the vendor slots of their User-Agents (HbbTV's
"(capabilities; vendor; model; …)", the Opera/OIPF "(Vendor, Model, wired)"
suffix, LG's "(LGE; model; …)") with codes, upper case or company names;
reports need one name per maker. Values that are not a maker at all (the
Freesat profile, "OEM", "CUS:" with nothing after it) give "".
"""
import re

# Lower-cased spelling or code -> brand.
ALIASES = {
    "lge": "LG", "lg electronics": "LG", "lgelectronics": "LG",
    "samsung electronics": "Samsung", "sec": "Samsung",
    "sony": "Sony", "sonydtv": "Sony", "sony corporation": "Sony",
    "philips": "Philips", "philipstv": "Philips", "tp vision": "Philips", "tpvision": "Philips",
    "panasonic": "Panasonic", "matsushita": "Panasonic",
    "dmm": "Dreambox", "dream multimedia": "Dreambox", "dreambox": "Dreambox",
    "vuplus": "VU+", "vu+": "VU+",
    "sky_worth": "Skyworth", "skyworth": "Skyworth",
    "bangolufsen": "Bang & Olufsen", "b&o": "Bang & Olufsen", "bang & olufsen": "Bang & Olufsen",
    "thom": "Thomson", "thomson": "Thomson",
    "aldisued": "ALDI SÜD", "aldinord": "ALDI NORD",
    "sagemcom_broadband_sas": "Sagemcom", "sagemcom broadband": "Sagemcom", "sagem": "Sagemcom",
    "technotrend goerler": "TechnoTrend", "technotrend": "TechnoTrend", "ttgoerler": "TechnoTrend",
    "inverto": "Inverto", "altech uec": "Altech UEC", "uec": "UEC",
    "hisense": "Hisense", "tcl": "TCL", "vestel": "Vestel", "loewe": "Loewe", "metz": "Metz",
    "grundig": "Grundig", "telefunken": "Telefunken", "toshiba": "Toshiba", "sharp": "Sharp",
    "hitachi": "Hitachi", "jvc": "JVC", "medion": "Medion", "humax": "Humax", "technisat": "TechniSat",
    "arris": "ARRIS", "motorola": "Motorola", "mmi": "ARRIS", "amino": "Amino", "aminet": "Amino",
    "infomir": "Infomir", "mag": "Infomir", "technicolor": "Technicolor", "kaon": "Kaon",
    "nvidia": "NVIDIA", "google": "Google", "google fiber": "Google", "amazon": "Amazon", "roku": "Roku",
    "apple": "Apple", "xiaomi": "Xiaomi", "mitv": "Xiaomi", "huawei": "Huawei", "zte": "ZTE",
    "changhong": "Changhong", "haier": "Haier", "konka": "Konka", "vizio": "Vizio", "tivo": "TiVo",
    "mstar": "MStar", "seraphic": "Seraphic", "intek": "INTEK", "airties": "AirTies",
    "iwedia": "iWedia", "hyperpanel": "HyperPanel", "selevision": "Selevision", "polaroid": "Polaroid",
    "digihome": "Digihome", "luxor": "Luxor", "finlux": "Finlux", "bush": "Bush", "funai": "Funai",
    "orion": "Orion", "celcus": "Celcus", "lifemaxx": "Lifemaxx", "turbo-x": "Turbo-X", "crown": "Crown",
    "pioneer": "Pioneer", "nagra": "NAGRA", "nagra opentv": "NAGRA", "freebox": "Free", "free": "Free",
    "dune": "Dune HD", "dunehd": "Dune HD", "dune hd": "Dune HD", "formuler": "Formuler",
    "arcelik": "Arçelik", "beko": "Beko", "jcom": "J:COM", "ikea": "IKEA", "peaq": "PEAQ",
    "eurofix": "Eurofix", "netgear": "NETGEAR", "asus": "Asus", "logitech": "Logitech",
    "skyworth digital": "Skyworth", "sei": "SEI Robotics", "sei robotics": "SEI Robotics",
    "sagemcom_broadband": "Sagemcom", "titanos": "", "zeasn": "", "foxxum": "",
    "thtf_cvte": "Tsinghua Tongfang", "thtf": "Tsinghua Tongfang", "essentiel b": "Essentiel B",
    "mtc": "MTS", "mts": "MTS", "dinalink": "Dynalink", "essentielb": "Essentiel B",
}
# Vendor-slot values that name a profile, a middleware or nobody.
NOT_BRANDS = frozenset({"", "oem", "freesat", "freesat/1.0", "-----", "cus", "vendor", "unknown",
                        "generic", "none", "null", "n/a", "na", "test", "smard tv", "smart", "loh",
                        "opera", "linux", "android", "webkit", "tv", "dtv", "stb", "hbbtv",
                        "manufacturer", "brand", "oipf", "ce-html", "wired", "wireless"})
_CUSTOMER = re.compile(r"(?i)^cus:\s*")
_SUFFIX = re.compile(r"(?i)[\s_,]+(?:inc|ltd|gmbh|co|corp|corporation|sas|s\.a\.|ag|electronics|limited)\.?$")


def canonical(brand):
    """One spelling for a maker's name or code; "" when it is none."""
    if not brand:
        return ""
    value = _CUSTOMER.sub("", brand.strip().strip(";,").strip())
    key = value.lower()
    if "/" in key:
        # "Freesat/1.0" names a profile; "LGE/ATMACA/SUNNY" a webOS licensee
        # (LG's platform, the integrator, the brand on the set).
        parts = [p for p in value.split("/") if p.strip()]
        if not parts or parts[0].lower() in NOT_BRANDS or not re.search(r"[A-Za-z]", parts[-1]):
            return ""
        return canonical(parts[-1])
    if key in NOT_BRANDS:
        return ""
    if key in ALIASES:
        return ALIASES[key]
    trimmed = _SUFFIX.sub("", value)
    if trimmed.lower() in ALIASES:
        return ALIASES[trimmed.lower()]
    if len(value) < 2 or not re.search(r"[A-Za-z]", value):
        return ""
    if value.isupper() and len(value) > 4 and " " not in value and "-" not in value:
        return value.capitalize() if value.isalpha() else value
    return trimmed
