"""Where a request came from: client IP, User-Agent, and what they tell us.

The device class and country are derived once per request and stamped on
every session the request stores. The device fields come from the shared
User-Agent cache (enrich/uacache.py): a string seen before costs a dict
lookup; a never-seen one gets our fast rules' answer at once and, when the
device database is needed, `ua_pending` until the filler completes it.
"""
import ipaddress
import re
from dataclasses import dataclass, field
from functools import cached_property

from .conf import setting
from .enrich import geo, uacache


@dataclass(frozen=True)
class Origin:
    ip: str = ""
    user_agent: str = ""
    x_user_agent: str = ""
    device: dict = field(default_factory=dict)
    country: str = geo.UNKNOWN
    ua_hash: str = ""
    ua_pending: bool = False

    def as_fields(self):
        """The session fields; a new dict per call, with its own copy of `ua`."""
        fields = self._fields.copy()
        fields["ua"] = dict(self.device)
        return fields

    @cached_property
    def _fields(self):
        # The same for every session the request stores, so built once
        # (`ua` is a placeholder that keeps the field order).
        fields = {"ip": self.ip or None, "user_agent": self.user_agent,
                  "x_user_agent": self.x_user_agent or None,
                  "ua": None, "country": self.country}
        if self.ua_hash:
            fields["ua_hash"] = self.ua_hash
        if self.ua_pending:
            fields["ua_pending"] = True
        return fields


# A dotted-quad IPv4 address already in the form ipaddress prints: 0..255,
# ASCII digits, no leading zeros (which ipaddress refuses anyway).
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PLAIN_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")


def client_ip(meta):
    """The viewer's address: REMOTE_ADDR, or X-Forwarded-For behind trusted proxies.

    Walks X-Forwarded-For from the right and stops at the first hop that is
    not a trusted proxy, so a client cannot forge its address by sending the
    header itself.
    """
    addr = meta.get("REMOTE_ADDR", "")
    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded:
        trusted = set(setting("VIEWSTATS_TRUSTED_PROXIES") or ())  # once per request, not per hop
        if addr in trusted:
            for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
                addr = hop
                if hop not in trusted:
                    break
    return _normalised_ip(addr)


def _normalised_ip(addr):
    """`addr` as ipaddress prints it, or "" if it is not an address."""
    if type(addr) is str and _PLAIN_IPV4.fullmatch(addr):
        # The common case, printed as it came: skip ipaddress's parse and
        # print. Anything but a plain str (None, a number) goes the long way.
        return addr
    try:
        return str(ipaddress.ip_address(addr))
    except ValueError:
        return ""


def device_fields(user_agent, x_user_agent=None):
    """The session fields for a header pair: ua, ua_hash and ua_pending while provisional."""
    return uacache.session_fields(user_agent, x_user_agent or None)


def from_request(request):
    meta = request.META
    ua = meta.get("HTTP_USER_AGENT", "")[:512]
    xua = meta.get("HTTP_X_USER_AGENT", "")[:256]
    ip = client_ip(meta)
    entry = uacache.lookup(ua, xua or None)
    return Origin(ip=ip, user_agent=ua, x_user_agent=xua, device=entry.ua,
                  country=geo.country_for_ip(ip), ua_hash=entry.key, ua_pending=entry.pending)
