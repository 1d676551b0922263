"""Build tiny MaxMind-format country databases for tests (with mmdb-writer).

    build_country_db(tmp_path / "geo.mmdb", {"81.2.69.0/24": "GB", "2a02:db8::/32": "DE"})

Like the real files, the database is IPv6 with IPv4 networks mapped into it.
A network may map to a country code, laid out as `layout` says, or to a raw
record dict written as given (e.g. one with only `registered_country`).
"""
from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

LAYOUTS = {"geolite2": "GeoLite2-Country", "dbip": "DBIP-Country-Lite"}

# Enough continents for the codes tests use; DB-IP Lite always has one.
_CONTINENTS = {
    "GB": "EU", "DE": "EU", "FR": "EU", "NL": "EU", "RU": "EU", "UA": "EU", "IT": "EU", "ES": "EU",
    "SE": "EU", "PL": "EU", "FI": "EU", "NO": "EU", "BY": "EU", "KZ": "AS", "TR": "AS", "IL": "AS",
    "US": "NA", "CA": "NA", "BR": "SA", "JP": "AS", "CN": "AS", "IN": "AS", "AU": "OC", "ZA": "AF",
}


def country_record(code, layout="geolite2"):
    """The record a real database of that layout holds for a country."""
    country = {"iso_code": code, "names": {"en": code}}
    if layout == "geolite2":
        return {"country": country, "registered_country": dict(country)}
    if layout == "dbip":
        record = {"country": dict(country)}
        if code in _CONTINENTS:
            record["continent"] = {"code": _CONTINENTS[code], "names": {"en": _CONTINENTS[code]}}
        return record
    raise ValueError(f"unknown layout {layout!r}; expected one of {sorted(LAYOUTS)}")


def build_country_db(path, networks: dict, layout: str = "geolite2") -> str:
    """Write `networks` ({cidr: country code or record}) to `path`; returns the path."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {sorted(LAYOUTS)}")
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=LAYOUTS[layout],
                        languages=["en"], description=f"test {layout} country database")
    for cidr, value in networks.items():
        record = value if isinstance(value, dict) else country_record(value, layout)
        writer.insert_network(IPSet([cidr]), record)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.to_db_file(str(path))
    return str(path)
