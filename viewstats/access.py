"""Who is asking, and which clients' statistics they may read.

Staff users belong to one client (Host.operator_of_user) and see only it;
superusers see every client and may name one; everyone else is refused.
Scripts authenticate with 'Authorization: Token <key>' (ApiToken).
A client named in a request only narrows the scope: it never widens it.
"""
from django.core.exceptions import PermissionDenied

from . import host
from .models import ApiToken

ALL = "all"


class NotAuthenticated(Exception):
    pass


def request_user(request):
    """The session user, or the owner of the API token in the header."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:6].lower() == "token ":
        key = host.lookup_key(header[6:].strip())
        token = key and (ApiToken.objects.select_related("user")
                         .filter(key=key, user__is_active=True).first())
        if token is None:
            raise NotAuthenticated("unknown API token")
        return token.user
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        raise NotAuthenticated("log in, or pass 'Authorization: Token <key>'")
    return user


def client_scope(user, requested=None):
    """The list of client ids `user` may read, narrowed to `requested`.

    `requested` is None, a client id (int or digit string) or "all".
    Raises PermissionDenied when the user may not see what was asked for.
    """
    if requested in ("", None):
        requested = None
    if user.is_superuser:
        if requested is None or requested == ALL:
            return host.all_client_ids()
        client_id = _client_id(requested)
        if client_id not in host.client_names([client_id]):
            raise PermissionDenied(f"no client {client_id}")
        return [client_id]
    own = host.staff_client_id(user) if user.is_staff else None
    if own is None:
        raise PermissionDenied("this user is not staff of any client")
    if requested == ALL:
        raise PermissionDenied("only superusers may ask for all clients")
    if requested is not None and _client_id(requested) != own:
        raise PermissionDenied("you may read only your own client's statistics")
    return [own]


def _client_id(value):
    # ASCII digits only: int() also reads "١٢" (Arabic-Indic) as 12.
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not (isinstance(text, str) and text.isascii() and text.isdecimal() and len(text) <= 18):
        raise PermissionDenied(f"client must be a client id or 'all', got {value!r}")
    return int(text)
