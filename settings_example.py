"""What a middleware adds to its own settings to run the statistics suite.

Copy the relevant lines into the middleware's settings module.
"""

INSTALLED_APPS = [
    # ... the middleware's own apps ...
    "django_rq",
    "viewstats",
    "smartystats",
]

# The middleware's implementation of viewstats.contract.Host (README: "Porting to your middleware").
VIEWSTATS_HOST = "mymiddleware.stats_host.StatsHost"
USE_TZ = True

# MongoDB holding the viewing sessions (MongoDB 5.0 or newer).
MONGODB_HOST = "127.0.0.1"
MONGODB_PORT = 27017
MONGODB_NAME = "viewstats"
MONGODB_USERNAME = "viewstats"
MONGODB_PASSWORD = "Password"
MONGODB_AUTH_METHOD = "SCRAM-SHA-256"
# Alternatively one URI, which wins over the settings above:
# MONGODB_URI = "mongodb://viewstats:Password@mongo1,mongo2,mongo3/viewstats?replicaSet=rs0"

# Raw sessions older than this are removed by MongoDB (TTL index); None keeps them.
VIEWSTATS_RAW_RETENTION_DAYS = 400

# Heavy commands go to RQ workers when this is on (Smarty's own switch).
SMARTY_USE_RQ = True

# Days and hours are the operator's local ones; True brings back Smarty's UTC ones.
SMARTYSTATS_USE_UTC = False
VIEWSTATS_POPULARITY_UTC_DAYS = False
RQ_QUEUES = {
    "statistics": {"HOST": "127.0.0.1", "PORT": 6379, "DB": 0, "DEFAULT_TIMEOUT": 3600},
}

# Country of each session from a MaxMind-format file (GeoLite2-Country or DB-IP Lite).
VIEWSTATS_GEOIP_PATH = "/var/lib/GeoIP/GeoLite2-Country.mmdb"
# Addresses of reverse proxies whose X-Forwarded-For is believed.
VIEWSTATS_TRUSTED_PROXIES = ["127.0.0.1"]

urlpatterns_to_add = """
    path("viewstats/", include("viewstats.urls")),
    path("smartystats/", include("smartystats.urls")),
    path("django-rq/", include("django_rq.urls")),
"""
