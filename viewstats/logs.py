"""Structured logs: JSON lines through the standard library's logging.

`JsonFormatter` turns every record into one JSON object per line: time,
level, logger, message, the `extra=` fields of the call, the request id of
the request being served and the exception, if any. Any logger can use it
(README, "Monitoring", has the LOGGING snippet).

The collection APIs log one line per rejected item, per request refused
whole and per failed store call on the `viewstats.events` logger (INFO for
what the sender got wrong, ERROR for the store), each with the client,
device type, a reason code (viewstats.metrics.REASONS), the request id
and the requester's address as VIEWSTATS_LOG_IP allows. Nothing else that
names a viewer is logged: no account, authkey, User-Agent or item id.
"""
import contextvars
import ipaddress
import json
import logging
import re
import uuid
from datetime import datetime, timezone

from .conf import setting

events = logging.getLogger("viewstats.events")

# The request being served in this thread (or task), so that any log line
# written meanwhile, ours or not, carries its id.
current_request_id = contextvars.ContextVar("viewstats_request_id", default=None)

# An incoming X-Request-ID is kept when it looks like an id (a proxy's or a
# load balancer's): short, and only characters that need no escaping anywhere.
# Anything else could smuggle text into log lines, so a fresh id replaces it.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@=+/-]{0,127}")

IP_MODES = ("full", "truncated", "none")
IPV4_PREFIX, IPV6_PREFIX = 24, 48


def begin_request(request):
    """Give `request` its id (the sane incoming X-Request-ID, else a new one); returns a reset token."""
    incoming = request.META.get("HTTP_X_REQUEST_ID", "")
    request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    request.viewstats_request_id = request_id
    return current_request_id.set(request_id)


def end_request(token):
    current_request_id.reset(token)


def request_id(request):
    return getattr(request, "viewstats_request_id", None) or current_request_id.get()


def log_ip(address, mode=None):
    """`address` as VIEWSTATS_LOG_IP allows: whole, its network (/24, /48), or None."""
    mode = mode or setting("VIEWSTATS_LOG_IP")
    if mode == "none" or not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if mode == "full":
        return str(ip)
    # Anything but "full" truncates: an unknown value must not leak whole addresses.
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:a.b.c.d is an IPv4 viewer
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def requester_ip(request):
    """The requester's address, as the APIs resolve it (trusted proxies), as VIEWSTATS_LOG_IP allows."""
    from .origin import client_ip

    return log_ip(client_ip(request.META))


def _emit(level, event, what, request, protocol, client_id, device_type, reason, **more):
    """One line on viewstats.events; its fields as `extra` (keys of their own in JSON)."""
    rid = request_id(request) if request is not None else current_request_id.get()
    fields = {"event": event, "protocol": protocol, "client": client_id, "device_type": device_type or None,
              "reason": reason, "request_id": rid}
    if request is not None:
        fields["ip"] = requester_ip(request)
    fields.update(more)
    # The text says the same for a plain formatter.
    events.log(level, "%s %s of client %s (%s): %s [request %s]", what, protocol, client_id, device_type,
               reason, rid, extra=fields)


def rejected(request, protocol, client_id, device_type, reason, detail, index=None):
    """One item (a push, a batch item, a media-server event) refused for its content."""
    _emit(logging.INFO, "rejected", "rejected item:", request, protocol, client_id, device_type, reason,
          index=index, detail=str(detail)[:200])


def refused(request, protocol, client_id, device_type, reason, status=None, code=None):
    """A whole request refused before its items were read (authentication, body, disabled).

    `status` is the HTTP status; a stat/push is answered 200 with its error `code`.
    """
    more = {"status": status} if status is not None else {"error_code": code}
    _emit(logging.INFO, "refused", "refused request:", request, protocol, client_id, device_type, reason, **more)


def store_failed(request, protocol, client_id, device_type, operation, error):
    """A MongoDB call of a collection API failed (the sender is told to resend)."""
    first_line = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
    _emit(logging.ERROR, "store_error", f"store call failed ({operation}):", request, protocol, client_id,
          device_type, "store_unavailable", operation=operation, error=first_line)


# ------------------------------------------------------------------- formatter

# What every LogRecord has: the rest of its attributes came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra=` fields become keys of their own.

    Newlines inside messages and tracebacks are escaped by JSON, so a line
    is always one record, whatever the message says.
    """

    def format(self, record):
        data = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                data[key] = value
        if data.get("request_id") is None:
            rid = current_request_id.get()
            if rid is not None:
                data["request_id"] = rid
            else:
                data.pop("request_id", None)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=str, ensure_ascii=False)
