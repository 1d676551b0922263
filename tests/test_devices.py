"""Device classification from real User-Agent strings (viewstats.enrich.devices).

Strings are as the devices and apps send them; a few vendor formats we could
not capture are reconstructed from the vendors' documented layout and are
marked "reconstructed".
"""
import pytest

from viewstats.enrich import devices
from viewstats.enrich.devices import DeviceInfo, cache_info, classify

MAG_QT = ("Mozilla/5.0 (QtEmbedded; U; Linux; C) AppleWebKit/533.3 (KHTML, like Gecko) "
          "MAG200 stbapp ver: 2 rev: 250 Safari/533.3")
MAG_QT4 = ("Mozilla/5.0 (QtEmbedded; U; Linux; C) AppleWebKit/533.3 (KHTML, like Gecko) "
           "MAG200 stbapp ver: 4 rev: 2721 Mobile Safari/533.3")


def _android_wv(android, model, chrome="91.0.4472.120"):
    return (f"Mozilla/5.0 (Linux; Android {android}; {model}; wv) AppleWebKit/537.36 "
            f"(KHTML, like Gecko) Version/4.0 Chrome/{chrome} Mobile Safari/537.36")


# (user_agent, x_user_agent, type, brand, model, app)
CASES = [
    # Infomir MAG: the portal browser says MAG200, X-User-Agent names the box.
    pytest.param(MAG_QT, "Model: MAG250; Link: WiFi", "stb", "Infomir", "MAG250", "stbapp", id="mag250"),
    pytest.param(MAG_QT4, "Model: MAG254; Link: Ethernet", "stb", "Infomir", "MAG254", "stbapp", id="mag254"),
    pytest.param(MAG_QT4, "Model: MAG322; Link: Ethernet,WiFi", "stb", "Infomir", "MAG322", "stbapp", id="mag322"),
    pytest.param(MAG_QT4, "model=MAG420;gAppVersion=2.18.04;rAppVersion=2.18.04;imageVersion=218;type=stb",
                 "stb", "Infomir", "MAG420", "stbapp", id="mag420-kv-header"),
    pytest.param(MAG_QT, None, "stb", "Infomir", "MAG200", "stbapp", id="mag200-no-header"),
    pytest.param("Kodi/19.3 (Linux; Android 9.0; MAG425A Build/PPR1.180610.011) Android/9.0.0 Sys_CPU/armv8l "
                 "App_Bitness/32 Version/19.3-(19.3.0)-Git:20211024-26ee7b6e74",
                 None, "stb", "Infomir", "MAG425A", "Kodi 19.3", id="mag425a-kodi"),
    pytest.param(_android_wv("11", "MAG524 Build/RP1A.201005.006", "83.0.4103.120"),
                 None, "stb", "Infomir", "MAG524", "", id="mag524-android"),
    pytest.param("Mozilla/5.0 (Linux; Android 4.4.2; AuraHD Build/KOT49H) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Version/4.0 Chrome/30.0.0.0 Safari/537.36", None, "stb", "Infomir", "AuraHD", "", id="aura-hd"),
    # Dune HD
    pytest.param("DuneHD/1.0.3", None, "stb", "Dune HD", "", "", id="dune-player"),
    pytest.param(_android_wv("9", "Dune HD Pro 4K II Build/PPR1.180610.011"),
                 None, "stb", "Dune HD", "Pro 4K II", "", id="dune-android"),
    pytest.param("Mozilla/5.0 (X11; Linux; U; en-US) AppleWebKit/534.3 (KHTML, like Gecko) dune_hd_tv_301 "
                 "Safari/534.3", None, "stb", "Dune HD", "", "", id="dune-tv-browser"),
    # Formuler
    pytest.param(_android_wv("7.1.2", "Formuler Z8 Build/NHG47L", "52.0.2743.100"),
                 None, "stb", "Formuler", "Z8", "", id="formuler-z8"),
    pytest.param(_android_wv("9", "Z10 Pro Build/PPR1.180610.011", "74.0.3729.186"),
                 None, "stb", "Formuler", "Z10 Pro", "", id="formuler-z10-pro"),
    # Enigma2 receivers (servicemp3 defaults of the images)
    pytest.param("Enigma2 HbbTV/1.1.1 (+PVR+RTSP+DL;OpenPLi;;;)", None, "stb", "", "", "", id="enigma2-openpli"),
    pytest.param("Enigma2 HbbTV/1.1.1 (+PVR+RTSP+DL;openATV;;;)", None, "stb", "", "", "", id="enigma2-openatv"),
    pytest.param("Enigma2 Mediaplayer", None, "stb", "", "", "", id="enigma2-old"),
    # Operator boxes (reconstructed)
    pytest.param("Mozilla/5.0 (Linux mips; U; en-US) AppleWebKit/534.34 (KHTML, like Gecko) AmiNET A140 "
                 "Safari/534.34", None, "stb", "Amino", "A140", "", id="amino"),
    pytest.param("Mozilla/5.0 (X11; Linux armv7l) AppleWebKit/537.36 (KHTML, like Gecko) TVIP S-Box v.605 "
                 "Safari/537.36", None, "stb", "TVIP", "S-Box v.605", "", id="tvip"),
    pytest.param("Mozilla/5.0 (X11; Linux mipsel) AppleWebKit/534.34 (KHTML, like Gecko) Eltex NV-501 "
                 "Safari/534.34", None, "stb", "Eltex", "NV-501", "", id="eltex-nv501"),
    pytest.param(_android_wv("7.1.2", "NV-711 Build/NHG47L", "64.0.3282.137"),
                 None, "stb", "Eltex", "NV-711", "", id="eltex-nv711"),
    # Smart TV platforms
    pytest.param("Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/538.1 (KHTML, like Gecko) Version/6.0 "
                 "TV Safari/538.1", None, "smarttv", "", "", "", id="tizen-6"),
    pytest.param("Mozilla/5.0 (SMART-TV; LINUX; Tizen 5.5) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "SamsungBrowser/3.0 Chrome/69.0.3497.106 TV Safari/537.36", None, "smarttv", "Samsung", "Smart TV", "",
                 id="tizen-5.5"),
    pytest.param("Mozilla/5.0 (SmartHub; SMART-TV; U; Linux/SmartTV; Maple2012) AppleWebKit/534.7 "
                 "(KHTML, like Gecko) SmartTV Safari/534.7", None, "smarttv", "Samsung", "Smart TV (2012)", "",
                 id="samsung-orsay"),
    pytest.param("Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/79.0.3945.79 Safari/537.36 WebAppManager", None, "smarttv", "", "", "", id="webos-6"),
    pytest.param("Mozilla/5.0 (Linux; NetCast; U) AppleWebKit/537.31 (KHTML, like Gecko) Model/42LA660S-ZA "
                 "Safari/537.31", None, "smarttv", "LG", "42LA660S-ZA", "", id="netcast"),
    pytest.param("GStreamer souphttpsrc (compatible; LG NetCast.TV-2013) libsoup/2.34.2",
                 None, "smarttv", "LG", "", "GStreamer", id="netcast-gstreamer"),
    pytest.param("Opera/9.80 (Linux armv7l; HbbTV/1.2.1 (; Sony; KDL32W705B; PKG3.211EUA; 2014;); ) "
                 "Presto/2.12.362 Version/12.11", None, "smarttv", "Sony", "KDL32W705B", "", id="hbbtv-sony"),
    pytest.param("Mozilla/5.0 (X11; FreeBSD; U; Viera; de-DE) AppleWebKit/537.11 (KHTML, like Gecko) "
                 "Viera/3.10.14 Chrome/23.0.1271.97 Safari/537.11", None, "smarttv", "Panasonic", "Smart TV", "",
                 id="panasonic-viera"),
    # Apple TV, Roku
    pytest.param("AppleCoreMedia/1.0.0.20K71 (Apple TV; U; CPU OS 16_1 like Mac OS X; en_us)",
                 None, "stb", "Apple", "Apple TV", "AppleCoreMedia 1.0.0.20", id="appletv-coremedia"),
    pytest.param("AppleTV6,2/11.1", None, "stb", "Apple", "Apple TV", "", id="appletv-short"),
    pytest.param("Roku/DVP-9.10 (519.10E04111A)", None, "stb", "Roku", "", "", id="roku-player"),
    pytest.param("Roku/6000X-7", None, "smarttv", "Roku", "6000X", "", id="roku-tv-model"),
    pytest.param("Roku/DVP-9.10 (289.10E04111A) TCL RokuTV", None, "smarttv", "Roku", "", "",
                 id="roku-tv-maker-reconstructed"),
    # Amazon Fire TV: sticks, boxes, Fire TV Edition sets
    pytest.param(_android_wv("7.1.2", "AFTMM Build/NS6265", "70.0.3538.110"),
                 None, "tv_stick", "Amazon", "AFTMM", "", id="firetv-stick-4k"),
    pytest.param("Mozilla/5.0 (Linux; Android 5.1.1; AFTT Build/LVY48F) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Version/4.0 Chrome/49.0.2623.10 Safari/537.36", None, "tv_stick", "Amazon", "AFTT", "",
                 id="firetv-stick-gen2"),
    pytest.param("Dalvik/2.1.0 (Linux; U; Android 9; AFTKA Build/PS7633.3445N)",
                 None, "tv_stick", "Amazon", "AFTKA", "", id="firetv-stick-4k-max"),
    pytest.param("TiviMate/4.7.0 (Linux; Android 9; AFTKA)", None, "tv_stick", "Amazon", "AFTKA", "TiviMate 4.7.0",
                 id="tivimate-on-firetv"),
    pytest.param(_android_wv("9", "AFTR Build/PS7292", "87.0.4280.101"),
                 None, "stb", "Amazon", "AFTR", "", id="firetv-cube"),
    pytest.param(_android_wv("9", "AFTDCT31 Build/PS7285.2861N", "87.0.4280.101"),
                 None, "smarttv", "Toshiba", "AFTDCT31", "", id="firetv-edition-insignia"),
    pytest.param("Dalvik/2.1.0 (Linux; U; Android 7.1.2; AFTEU011 Build/NS6277)",
                 None, "smarttv", "Grundig", "AFTEU011", "", id="firetv-edition-eu"),
    # Google, NVIDIA, Xiaomi, Sony, no-name Android boxes
    pytest.param("Mozilla/5.0 (X11; Linux armv7l) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.108 "
                 "Safari/537.36 CrKey/1.44.191160", None, "tv_stick", "Google", "Chromecast", "",
                 id="chromecast"),
    pytest.param(_android_wv("12", "Chromecast Build/STTE.230319.008.R3", "114.0.5735.196"),
                 None, "tv_stick", "Google", "Chromecast", "", id="chromecast-google-tv"),
    pytest.param(_android_wv("9", "SHIELD Android TV Build/PPR1.180610.011", "118.0.5993.80"),
                 None, "stb", "NVIDIA", "SHIELD Android TV", "", id="shield"),
    pytest.param("TVApp/2.3.0 (Linux;Android 9; SHIELD Android TV) ExoPlayerLib/2.18.1",
                 None, "stb", "NVIDIA", "SHIELD Android TV", "ExoPlayer 2.18.1", id="exoplayer-on-shield"),
    pytest.param(_android_wv("9", "MIBOX4 Build/PI", "95.0.4638.74"),
                 None, "stb", "Xiaomi", "MIBOX4", "", id="mi-box-s"),
    pytest.param(_android_wv("9", "MiTV-AESP0 Build/PTT1.200313.001", "83.0.4103.101"),
                 None, "tv_stick", "Xiaomi", "MiTV-AESP0", "", id="mi-tv-stick"),
    pytest.param(_android_wv("9", "BRAVIA 4K GB ATV3 Build/PTT1.190515.001.S52"),
                 None, "smarttv", "Sony", "BRAVIA 4K GB ATV3", "", id="bravia"),
    pytest.param(_android_wv("9", "X96Max_Plus2 Build/PPR1.180610.011", "80.0.3987.99"),
                 None, "stb", "X96", "X96Max_Plus2", "", id="x96-box"),
    pytest.param("Kodi/20.2 (Linux; Android 9; X96 Max Build/PPR1.180610.011) Android/9.0.0 Sys_CPU/armv8l "
                 "App_Bitness/32 Version/20.2-(20.2.0)-Git:20230629-5f418d0b13",
                 None, "stb", "X96", "X96 Max", "Kodi 20.2", id="kodi-on-android-box"),
    # Players that name only themselves
    pytest.param("Kodi/19.4 (Windows NT 10.0.19044; Win64; x64) App_Bitness/64 Version/19.4-(19.4.0)-Git:"
                 "20220305-d8d7d2e2b4", None, "desktop", "", "", "Kodi 19.4", id="kodi-windows"),
    pytest.param("Kodi/20.1 (X11; Linux x86_64) Ubuntu/22.04 App_Bitness/64 Version/20.1-(20.1.0)-Git:"
                 "20230312-32626e5", None, "desktop", "", "", "Kodi 20.1", id="kodi-linux"),
    pytest.param("VLC/3.0.18 LibVLC/3.0.18", None, "player_app", "", "", "VLC 3.0.18", id="vlc"),
    pytest.param("ExoPlayerLib/2.18.1", None, "player_app", "", "", "ExoPlayer 2.18.1", id="exoplayer"),
    pytest.param("ExoPlayerDemo/2.11.3 (Linux;Android 9) ExoPlayerLib/2.11.3",
                 None, "player_app", "", "", "ExoPlayer 2.11.3", id="exoplayer-demo"),
    pytest.param("TiviMate/4.7.0 (Linux; Android 11)", None, "player_app", "", "", "TiviMate 4.7.0", id="tivimate"),
    pytest.param("OTT Navigator/1.6.9.4 (Linux;Android 12; en; 10i5hoq)",
                 None, "player_app", "", "", "OTT Navigator 1.6.9.4", id="ott-navigator"),
    pytest.param("OTT Navigator/1.6.7.4 (Linux;Android 11) ExoPlayerLib/2.15.1",
                 None, "player_app", "", "", "OTT Navigator 1.6.7.4", id="ott-navigator-exo"),
    pytest.param("Mozilla/5.0 (SmartHub; SMART-TV; U; Linux/SmartTV) AppleWebKit/538.1+ SmartIPTV",
                 None, "smarttv", "Samsung", "Smart TV", "Smart IPTV", id="smart-iptv-on-samsung"),
    pytest.param("SmartIPTV", None, "player_app", "", "", "Smart IPTV", id="smart-iptv"),
    pytest.param("ssiptv", None, "player_app", "", "", "SS IPTV", id="ss-iptv"),
    pytest.param("IPTVSmartersPro/3.1.5", None, "player_app", "", "", "IPTV Smarters 3.1.5", id="iptv-smarters"),
    pytest.param("GSE_SMART_IPTV/1.0 (Linux; Android 12)", None, "player_app", "", "", "GSE IPTV 1.0", id="gse"),
    pytest.param("PerfectPlayer/1.5.9", None, "player_app", "", "", "Perfect Player 1.5.9", id="perfect-player"),
    pytest.param("Threadfin/1.1.0", None, "restreamer", "", "", "Threadfin 1.1.0", id="threadfin"),
    pytest.param("Lavf/58.76.100", None, "player_app", "", "", "Lavf 58.76.100", id="lavf"),
    pytest.param("GStreamer souphttpsrc 1.18.4 libsoup/2.72.0",
                 None, "player_app", "", "", "GStreamer 1.18.4", id="gstreamer"),
    pytest.param("libmpv", None, "player_app", "", "", "mpv", id="mpv"),
    # Browsers
    pytest.param("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/17.1 Mobile/15E148 Safari/604.1", None, "mobile", "Apple", "iPhone", "", id="iphone"),
    pytest.param("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/16.6 Mobile/15E148 Safari/604.1", None, "tablet", "Apple", "iPad", "", id="ipad"),
    pytest.param("Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/119.0.0.0 Mobile Safari/537.36", None, "mobile", "Samsung", "Galaxy S23", "",
                 id="android-phone"),
    pytest.param("Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/119.0.0.0 Safari/537.36", None, "tablet", "Samsung", "Galaxy Tab A8 10.5\" WiFi", "",
                 id="android-tablet"),
    pytest.param("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/120.0.0.0 Safari/537.36", None, "desktop", "", "", "", id="windows-chrome"),
    pytest.param("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/17.1 Safari/605.1.15", None, "desktop", "Apple", "", "", id="macos-safari"),
    # Bots and tools
    pytest.param("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                 None, "bot", "", "", "Googlebot 2.1", id="googlebot"),
    pytest.param("curl/7.68.0", None, "bot", "", "", "curl 7.68.0", id="curl"),
    pytest.param("python-requests/2.31.0", None, "bot", "", "", "python-requests 2.31.0", id="python-requests"),
    pytest.param("Go-http-client/1.1", None, "bot", "", "", "Go-http-client 1.1", id="go-http-client"),
    pytest.param("", None, "other", "", "", "", id="empty"),
    pytest.param(None, None, "other", "", "", "", id="none"),
]


@pytest.mark.parametrize("ua, xua, type_, brand, model, app", CASES)
def test_classify(ua, xua, type_, brand, model, app):
    info = classify(ua, xua)
    assert (info.type, info.brand, info.model, info.app) == (type_, brand, model, app)
    assert info.type in devices.TYPES


@pytest.mark.parametrize("ua, os_name", [
    (MAG_QT, "Linux"),
    ("Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/538.1 (KHTML, like Gecko) Version/6.0 TV Safari/538.1",
     "Tizen 6.0"),
    ("Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 "
     "Safari/537.36 WebAppManager", "webOS"),
    ("Enigma2 HbbTV/1.1.1 (+PVR+RTSP+DL;OpenPLi;;;)", "Enigma2 OpenPLi"),
    ("Enigma2 HbbTV/1.1.1 (+PVR+RTSP+DL;openATV;;;)", "Enigma2 openATV"),
    ("Enigma2 Mediaplayer", "Enigma2"),
    ("AppleCoreMedia/1.0.0.20K71 (Apple TV; U; CPU OS 16_1 like Mac OS X; en_us)", "tvOS 16.1"),
    ("AppleTV6,2/11.1", "tvOS 11.1"),
    ("Roku/DVP-9.10 (519.10E04111A)", "Roku OS 9.10"),
    ("Dalvik/2.1.0 (Linux; U; Android 9; AFTKA Build/PS7633.3445N)", "Android 9"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.1 Mobile/15E148 Safari/604.1", "iOS 17.1"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
     "Safari/537.36", "Windows 10"),
    ("VLC/3.0.18 LibVLC/3.0.18", ""),
])
def test_os(ua, os_name):
    assert classify(ua).os == os_name


def test_x_user_agent_model_overrides_mag200():
    assert classify(MAG_QT).model == "MAG200"
    info = classify(MAG_QT, "Model: MAG254; Link: Ethernet")
    assert info == DeviceInfo("stb", "Infomir", "MAG254", "Linux", "stbapp")


def test_x_user_agent_alone_identifies_the_box():
    info = classify("", "Model: MAG322; Link: WiFi")
    assert (info.type, info.brand, info.model) == ("stb", "Infomir", "MAG322")


def test_empty_x_user_agent_model_is_ignored():
    assert classify(MAG_QT, "Model: ; Link: WiFi").model == "MAG200"


def test_unknown_user_agent_is_other():
    assert classify("SomeThing/1.0").type == "other"


def test_empty_user_agent_is_blank_device():
    assert classify("   ") == DeviceInfo("other", "", "", "", "")


def test_as_dict():
    assert classify("VLC/3.0.18 LibVLC/3.0.18").as_dict() == {
        "type": "player_app", "brand": "", "model": "", "os": "", "app": "VLC 3.0.18"}


def test_cache_counts_one_miss_then_one_hit():
    ua = "Mozilla/5.0 (Linux; Android 9; AFTKA Build/PS7633.3445N; cache-test-1)"
    before = cache_info()
    first = classify(ua)
    middle = cache_info()
    second = classify(ua)
    after = cache_info()
    assert (middle["misses"] - before["misses"], middle["hits"] - before["hits"]) == (1, 0)
    assert (after["misses"] - middle["misses"], after["hits"] - middle["hits"]) == (0, 1)
    assert second is first
    assert after["size"] >= 1
    assert after["hit_ratio"] == pytest.approx(after["hits"] / (after["hits"] + after["misses"]))


def test_cache_is_per_header_pair():
    before = cache_info()
    classify(MAG_QT, "Model: MAG250; Link: cache-test-2")
    classify(MAG_QT, "Model: MAG254; Link: cache-test-2")
    assert cache_info()["misses"] - before["misses"] == 2


def test_cache_is_bounded():
    assert devices._classify.cache_info().maxsize == devices.CACHE_SIZE


@pytest.mark.parametrize("code, type_", [
    ("AFTM", "tv_stick"), ("AFTSSS", "tv_stick"), ("AFTKRT", "tv_stick"),
    ("AFTN", "stb"), ("AFTA", "stb"), ("AFTBAMR311", "smarttv"), ("AFTHA001", "smarttv"),
])
def test_fire_tv_codes(code, type_):
    assert classify(f"Dalvik/2.1.0 (Linux; U; Android 9; {code} Build/PS7624.3337N)").type == type_


# Families the first rules missed or got wrong (each string is also in tests/data/ua_corpus.tsv).
@pytest.mark.parametrize("ua, type_, brand, model", [
    ("Roku4640X/DVP-7.70 (297.70E04154A)", "stb", "Roku", "4640X"),
    ("Mozilla/5.0 (CrKey armv7l 1.5.16041) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/31.0.1650.0 "
     "Safari/537.36", "tv_stick", "Google", "Chromecast"),
    ("Mozilla/5.0 (Linux; Andr0id 6.0; SHIELD Andr0id TV Build/MRA58K) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/49.0.2623.23 Safari/537.36 OPR/32.0.2128.0", "stb", "NVIDIA", "SHIELD Android TV"),
    ("OPR/19.0.1325.0 OMI/4.1.4.54, KreaTV/15.99.2.1 (ARRIS, IPC1100P2, wired)", "stb", "ARRIS", "IPC1100P2"),
    ("Opera/9.80 (Linux mips; U; HbbTV/1.1.1 (; Humax; HM-9504HD; 0.01.06; 1.0; scrlgnnew; ); ce-html/1.0; xx) "
     "Presto/2.10.250 Version/11.60", "stb", "Humax", "HM-9504HD"),
    ("Mozilla/5.0 (Linux mips; U;HbbTV/1.1.1 (+RTSP;DMM;Dreambox;0.1a;1.0;) CE-HTML/1.0; xx) AppleWebKit/535.19 "
     "no/Volksbox QtWebkit/2.2", "stb", "Dreambox", "Dreambox"),
    ("Opera/9.80 (Linux mips; HbbTV/1.2.1 (; Freesat/1.0; hdr1000s; 1.0.0; 1.0.0; wired); ce-html/1.0) "
     "Presto/2.12.407 Version/12.50", "stb", "Humax", "hdr1000s"),   # the database knows the model
    ("Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/68.0.3440.106 "
     "Safari/537.36 HbbTV/1.5.1 (+DRM; LGE/ATMACA/SUNNY; SN50FMN242-0246; WEBOS5.0 04.50.60; W50_K6LP; DTV_C20P;)",
     "smarttv", "Sunny", "SN50FMN242-0246"),
    ("Mozilla/5.0 (X11; Linux i686) AppleWebKit/534.24 (KHTML, like Gecko) Chrome/11.0.696.77 Large Screen "
     "Safari/534.24 GoogleTV/092754", "stb", "", "GoogleTV"),   # no maker named: none assumed
    ("DLNADOC/1.50 SEC_HHP_[TV] Samsung Q7 Series (49)/1.0", "smarttv", "Samsung", "Q7 Series (49)"),
    ("DLNADOC/1.50 SEC_HHP_BD-D5100/1.0", "stb", "Samsung", "BD-D5100"),
    ("Panasonic MIL DLNA CP UPnP/1.0 DLNADOC/1.50", "smarttv", "Panasonic", ""),
    ("Opera/9.80 (Linux mips) Presto/2.12.407 Version/12.50 , Vizio Co-Star LT/1.0.3T4 (Vizio, ISV-B11, wireless)",
     "stb", "Vizio", "ISV-B11"),
])
def test_tv_world_rules(ua, type_, brand, model):
    info = classify(ua)
    assert (info.type, info.brand, info.model) == (type_, brand, model)


@pytest.mark.parametrize("ua, app", [
    ("TVHeadend/4.3-1795~g771dfd6be~bionic", "Tvheadend 4.3-1795~g771dfd6be~bionic"),
    ("Jellyfin-Server/10.9.0", "Jellyfin Server 10.9.0"),
    ("PlexMediaServer/1.40.0", "Plex Media Server 1.40.0"),
    ("xTeVe/Test", "xTeVe"),
])
def test_restreaming_servers_are_their_own_class(ua, app):
    info = classify(ua)
    assert (info.type, info.app) == ("restreamer", app)


def test_the_app_is_kept_apart_from_the_hardware():
    info = classify("TiviMate/4.7.0 (Linux; Android 9; AFTKA)")
    assert (info.type, info.brand, info.app) == ("tv_stick", "Amazon", "TiviMate 4.7.0")
    assert classify("TiviMate/4.7.0 (Linux; Android 11)").type == "player_app"


def test_quick_answer_is_complete_for_families_our_rules_know():
    info, complete = devices.quick(MAG_QT, "Model: MAG254; Link: Ethernet")
    assert complete and info == classify(MAG_QT, "Model: MAG254; Link: Ethernet")
    assert devices.quick("VLC/3.0.18 LibVLC/3.0.18")[1]
