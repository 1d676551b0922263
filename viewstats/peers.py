"""Inter-server traffic: play sessions whose "viewer" is another media server.

An edge server pulling a stream from the origin shows up in the origin's
play events like any viewer. Such a session is marked `inter_server` when
its address is in one of the operator's media servers' `addresses`, or when
its events say `"peer": "server"`; reports, daily statistics, counters,
popularity and rollups then count it as inter-server traffic and never as a
viewer (viewstats.documents.VIEWING is the condition they share).
"""
import ipaddress

from .caching import host_cached
from .models import MediaServer

PEER_SERVER = "server"


def parse_networks(text):
    """The networks in an `addresses` field; raises ValueError naming a bad entry."""
    networks = []
    for token in (text or "").replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(token, strict=False))
        except ValueError:
            raise ValueError(f"{token!r} is not an IP address or network") from None
    return networks


@host_cached
def server_networks(client_id):
    """The networks of all of the client's media servers (cached like host data)."""
    networks = []
    for text in MediaServer.objects.filter(client_id=client_id).values_list("addresses", flat=True):
        try:
            networks += parse_networks(text)
        except ValueError:
            continue  # the admin form refuses these; an old row must not stop ingestion
    return tuple(networks)


def is_inter_server(client_id, ip, peer=None):
    if (peer or "").strip().lower() == PEER_SERVER:
        return True
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address.version == n.version and address in n for n in server_networks(client_id))
