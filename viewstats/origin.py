"""Where a request came from: client IP, User-Agent, and what they tell us.

The device class and country are derived once per request and stamped on
every session the request stores.
"""
import ipaddress
from dataclasses import dataclass, field

from .conf import setting
from .enrich import devices, geo


@dataclass(frozen=True)
class Origin:
    ip: str = ""
    user_agent: str = ""
    x_user_agent: str = ""
    device: dict = field(default_factory=dict)
    country: str = geo.UNKNOWN

    def as_fields(self):
        return {"ip": self.ip or None, "user_agent": self.user_agent,
                "x_user_agent": self.x_user_agent or None,
                "ua": self.device, "country": self.country}


def _trusted(addr):
    return addr in set(setting("VIEWSTATS_TRUSTED_PROXIES") or ())


def client_ip(meta):
    """The viewer's address: REMOTE_ADDR, or X-Forwarded-For behind trusted proxies.

    Walks X-Forwarded-For from the right and stops at the first hop that is
    not a trusted proxy, so a client cannot forge its address by sending the
    header itself.
    """
    addr = meta.get("REMOTE_ADDR", "")
    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and _trusted(addr):
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            addr = hop
            if not _trusted(hop):
                break
    try:
        return str(ipaddress.ip_address(addr))
    except ValueError:
        return ""


def from_request(request):
    meta = request.META
    ua = meta.get("HTTP_USER_AGENT", "")[:512]
    xua = meta.get("HTTP_X_USER_AGENT", "")[:256]
    ip = client_ip(meta)
    return Origin(ip=ip, user_agent=ua, x_user_agent=xua,
                  device=devices.classify(ua, xua or None).as_dict(),
                  country=geo.country_for_ip(ip))
