"""Parsing and validating the popularity commands' options.

Everything here raises OptionError, whose message names the option and the
bad value; the commands turn it into a CommandError (non-zero exit). The
checks against host data (does this client, tariff, category, channel or
device type exist, and is it the client's own) live here too, so a job on
a worker never starts with options the command would have refused.
"""
from dataclasses import asdict, dataclass, field

from .. import host

# The criteria as Smarty's page lists them, and the spellings its own
# example and MiStats use for the same things.
CRITERIA = {
    "watch": "total viewing time",
    "watch_sessions": "number of viewing sessions",
    "average": "average session duration",
    "median_watch_time": "median session duration",
}
CRITERION_ALIASES = {
    "watch_time": "watch",
    "sessions": "watch_sessions",
    "average_watch_time": "average",
}

TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}

DEFAULT_SELECTION_SIZE = 17


class OptionError(ValueError):
    def __init__(self, option, value, why):
        self.option, self.value = option, value
        super().__init__(f"--{option}: {why} (got {value!r})")


def split_list(value):
    """Items of a list option given as repeated flags, comma lists, or both.

    call_command(...) may also pass a plain int or list, so accept those.
    """
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        parts = []
        for item in value:
            parts += split_list(item)
        return parts
    return [part.strip() for part in str(value).split(",") if part.strip()]


def parse_ids(option, value):
    """Positive integer ids, duplicates dropped, order kept."""
    ids = []
    for part in split_list(value):
        try:
            number = int(part)
        except ValueError:
            raise OptionError(option, part, "expected a numeric id") from None
        if number <= 0:
            raise OptionError(option, part, "ids are positive numbers")
        if number not in ids:
            ids.append(number)
    return ids


# Ten years of days, ten thousand items: far beyond any real use, and
# below what date arithmetic and the database can represent.
MAXIMUM = {"days_number": 3660, "selection_size": 10_000}


def parse_positive(option, value):
    try:
        number = int(str(value).strip())
    except ValueError:
        raise OptionError(option, value, "expected a whole number") from None
    if number <= 0:
        raise OptionError(option, value, "must be greater than 0")
    if number > MAXIMUM.get(option, 2 ** 63 - 1):
        raise OptionError(option, value, f"must be at most {MAXIMUM.get(option, 2 ** 63 - 1)}")
    return number


def parse_non_negative(option, value):
    """A whole number >= 0; None or an empty string is 0 (the option left off)."""
    if value is None or str(value).strip() == "":
        return 0
    try:
        number = int(str(value).strip())
    except ValueError:
        raise OptionError(option, value, "expected a whole number") from None
    if number < 0:
        raise OptionError(option, value, "must be 0 or more")
    if number > 2 ** 63 - 1:
        raise OptionError(option, value, f"must be at most {2 ** 63 - 1}")
    return number


def parse_bool(option, value):
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise OptionError(option, value, "expected true or false")


def parse_criterion(value):
    word = str(value or "").strip().lower()
    word = CRITERION_ALIASES.get(word, word)
    if word not in CRITERIA:
        names = ", ".join(list(CRITERIA) + list(CRITERION_ALIASES))
        raise OptionError("criterion", value, f"unknown criterion; use one of {names}")
    return word


@dataclass
class Filters:
    """Which sessions count. Empty lists mean "all"."""

    devices: list = field(default_factory=list)       # device type system names
    tariffs: list = field(default_factory=list)       # tariff ids (at viewing time)
    accounts_active: bool = False                     # only accounts active now
    channels: list = field(default_factory=list)      # channel ids (EPG selections)
    categories: list = field(default_factory=list)    # category ids (EPG selections)

    def as_dict(self):
        return asdict(self)


def resolve_clients(value, many):
    ids = parse_ids("client_id", value)
    if not ids:
        raise OptionError("client_id", value, "a client id is required")
    if not many and len(ids) > 1:
        raise OptionError("client_id", value, "this command takes one client id")
    names = host.client_names(ids)
    for client_id in ids:
        if client_id not in names:
            raise OptionError("client_id", client_id, "no such client")
    return ids


def resolve_devices(value):
    names = []
    for name in split_list(value):
        if name not in names:
            names.append(name)
    known = host.known_device_types()
    for name in names:
        if name not in known:
            raise OptionError("devices", name, "unknown device system name")
    return sorted(names)


def _owned_ids(option, value, client_ids, owners_of):
    """Ids of `option` per client, refusing unknown ones and other tenants' ones."""
    ids = parse_ids(option, value)
    owners = owners_of(ids, client_ids)
    per_client = {client_id: [] for client_id in client_ids}
    for object_id in ids:
        owner = owners.get(object_id)
        if owner not in per_client:
            # Another tenant's id is reported exactly like a missing one.
            raise OptionError(option, object_id, "no such id for the given client")
        per_client[owner].append(object_id)
    if ids:
        for client_id, own in per_client.items():
            if not own:
                raise OptionError(option, value, f"none of these belongs to client {client_id}")
    return {client_id: sorted(own) for client_id, own in per_client.items()}


def resolve_tariffs(value, client_ids):
    return _owned_ids("tariffs", value, client_ids, host.tariff_clients)


def resolve_categories(value, client_id):
    return _owned_ids("categories", value, [client_id], host.category_clients)[client_id]


def resolve_channels(value, client_id):
    return _owned_ids("channels", value, [client_id], host.channel_clients)[client_id]


def resolve_format(value):
    word = str(value or "text").strip().lower()
    if word not in ("text", "json"):
        raise OptionError("format", value, "expected text or json")
    return word
