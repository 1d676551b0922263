"""The host contract: everything the suite reads from or writes to the middleware.

A middleware adopts `viewstats` and `smartystats` by implementing `Host` over
its own tables and naming the class in `VIEWSTATS_HOST` (a dotted path, like
Django's AUTHENTICATION_BACKENDS). Methods take and return plain values and
the frozen dataclasses below, never model instances, so nothing in the suite
depends on how the host stores its data.

Ids. Operators ("clients") are integers: they lead every MongoDB filter (the
shard key prefix) and every cache row. Channels, categories, programmes,
tariffs, sortings and selections are integers as well, because devices and
the commands' options pass them as numbers (Smarty's API). Accounts, customers
and devices are opaque: an int or a str (a UUID as text is fine); the suite
only compares and stores them. A host with no customer layer uses the account
id as the customer id.

Time. Every datetime is timezone-aware; intervals are half-open [start, end),
and `None` as an end means "still open".

`viewstats.testing` has a kit that checks an implementation against these
meanings on sample data.
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Iterable

ACTIVE = "ACTIVE"


# --- values ------------------------------------------------------------------

@dataclass(frozen=True)
class Operator:
    """A client of the middleware: an operator with its own subscribers and channels."""

    id: int
    name: str
    time_zone: str = "UTC"  # an IANA name; the operator's reports and days use it


@dataclass(frozen=True)
class DeviceType:
    """A kind of device an operator serves, with its statistics switch."""

    system_name: str  # e.g. "mag", "android_stb"
    name: str
    collection_enabled: bool  # "Enable statistical data collection" is ticked


@dataclass(frozen=True)
class DeviceLogin:
    """Who is behind an authkey (or a media server's token)."""

    client_id: int
    account_id: object
    customer_id: object
    device_type: str | None  # system name; None when a media server could not tell
    device_id: object = ""   # one physical device of the account (its own id, MAC, uid)


@dataclass(frozen=True)
class Channel:
    id: int
    name: str
    number: int | None = None
    enabled: bool = True
    category_ids: tuple = ()


@dataclass(frozen=True)
class Category:
    id: int
    name: str


@dataclass(frozen=True)
class Programme:
    """One EPG entry: `title` airs on `channel_id` during [begin, end)."""

    id: int
    channel_id: int
    begin: datetime
    end: datetime
    title: str = ""


@dataclass(frozen=True)
class Tariff:
    id: int
    name: str


def _contains(period, at):
    return (period.start is None or period.start <= at) and (period.end is None or at < period.end)


@dataclass(frozen=True)
class Period:
    """[start, end); start None = since ever, end None = still running."""

    start: datetime | None
    end: datetime | None = None

    contains = _contains


@dataclass(frozen=True)
class TariffPeriod:
    """The account had `tariff_id` during [start, end)."""

    tariff_id: int
    start: datetime | None
    end: datetime | None = None

    contains = _contains


@dataclass(frozen=True)
class Account:
    """A subscriber login, with the history the statistics need.

    `active_periods`: when the account could watch (its status history);
    `status`: what the middleware shows now, ACTIVE or the reason it is not
    (for example "DEBT", "BLOCK"); `tariff_periods`: which tariffs it had
    when; `device_types`: system names of the devices registered to it.
    """

    id: object
    customer_id: object
    created_at: datetime
    active_periods: tuple = ()
    status: str = ACTIVE
    tariff_periods: tuple = ()
    device_types: tuple = ()
    login: str = ""  # what the operator calls the account (its login or number); reports show it

    @property
    def active(self):
        return self.status == ACTIVE

    def active_at(self, at):
        return any(p.contains(at) for p in self.active_periods)

    def tariffs_at(self, at):
        """Ids of the tariffs the account had at instant `at`, sorted.

        Before its first tariff period (a session stamped to the second, or a
        device clock a little ahead of the middleware's, can start before
        the account's tariffs were saved) the first tariffs count.
        """
        starts = [p.start for p in self.tariff_periods if p.start is not None]
        if starts and len(starts) == len(self.tariff_periods) and at < min(starts):
            at = min(starts)
        return tuple(sorted({p.tariff_id for p in self.tariff_periods if p.contains(at)}))


@dataclass(frozen=True)
class Customer:
    """The person or household that pays; owns one or more accounts."""

    id: object
    created_at: datetime
    # The customer's own status history, when the middleware keeps one ([start, end)
    # Periods); None (the default): not known, the suite derives it from the accounts.
    active_periods: tuple | None = None


@dataclass(frozen=True)
class Payment:
    """A processed payment (refunds and pending ones are not reported)."""

    customer_id: object
    amount: Decimal
    currency: str
    at: datetime


@dataclass(frozen=True)
class GeneratedList:
    """A channel sorting or a selection as apps list it."""

    id: int
    name: str
    generated: bool
    content_type: str = "channel"  # "channel" or "epg" (selections of programmes)
    computed_at: datetime | None = None
    item_ids: tuple = field(default=(), compare=False)  # channel or programme ids in order


# --- the contract --------------------------------------------------------------

class Host(ABC):
    """Implement every abstract method; the suite calls nothing else on the host.

    Reads on the ingest path (login, device types, channels, programmes,
    account) are cached by the suite per process for
    VIEWSTATS_HOST_CACHE_SECONDS, so they may be plain queries.
    """

    # Operators and who may see them -------------------------------------------

    @abstractmethod
    def operators(self) -> list[Operator]:
        """Every operator, ordered by id."""

    def operator_of_user(self, user) -> int | None:
        """The operator a (non-superuser) staff user works for, or None.

        By default the suite's own "Operator staff" rows (editable in the
        admin) answer; override it where the middleware's users already
        carry their operator.
        """
        from viewstats.models import OperatorStaff

        return (OperatorStaff.objects.filter(user_id=user.pk)
                .values_list("client_id", flat=True).first())

    # Devices ------------------------------------------------------------------

    @abstractmethod
    def login(self, authkey: str) -> DeviceLogin | None:
        """Who a device's authkey belongs to, or None if the key is unknown."""

    @abstractmethod
    def device_types(self, client_id: int) -> list[DeviceType]:
        """The device types this operator serves, with their statistics switch."""

    @abstractmethod
    def media_viewer(self, client_id: int, token: str | None,
                     user_id: str | None) -> DeviceLogin | None:
        """Who a media server's play session belongs to, from its token or user id.

        A token is usually a device authkey; a user id an account login or
        id. Only this operator's subscribers may match. None if unknown.
        """

    # Content --------------------------------------------------------------------

    @abstractmethod
    def channels(self, client_id: int) -> list[Channel]:
        """All the operator's channels, disabled ones too, in its default order."""

    @abstractmethod
    def categories(self, client_id: int) -> list[Category]:
        """The operator's channel categories in display order."""

    @abstractmethod
    def programmes(self, client_id: int, channel_ids, start: datetime,
                   end: datetime) -> Iterable[Programme]:
        """Programmes of those of `channel_ids` that are the operator's and overlap
        [start, end), ordered by channel, then begin. May be a generator."""

    @abstractmethod
    def programmes_by_id(self, client_id: int, programme_ids) -> dict[int, Programme]:
        """{id: Programme} for those of `programme_ids` airing on the operator's channels."""

    # Subscribers and money -------------------------------------------------------

    @abstractmethod
    def tariffs(self, client_id: int) -> list[Tariff]:
        """The operator's tariffs (packages), ordered by id."""

    @abstractmethod
    def account(self, client_id: int, account_id) -> Account | None:
        """One of the operator's accounts, or None."""

    @abstractmethod
    def accounts(self, client_id: int) -> Iterable[Account]:
        """Every account of the operator, deactivated ones too. May be a generator."""

    def account_logins(self, client_id: int, account_ids) -> dict:
        """{account id: login} for those of `account_ids` that are the operator's
        and have a login. Reports call it once per page; the default asks
        `account` for each id, so a host with many rows per page overrides it
        with one query."""
        found = {}
        for account_id in account_ids:
            account = self.account(client_id, account_id)
            if account is not None and account.login:
                found[account_id] = account.login
        return found

    @abstractmethod
    def customers(self, client_id: int) -> Iterable[Customer]:
        """Every customer of the operator. May be a generator."""

    @abstractmethod
    def payments(self, client_id: int, start: datetime, end: datetime) -> Iterable[Payment]:
        """Processed payments made in [start, end). May be a generator."""

    # Generated channel sortings and selections -----------------------------------

    @abstractmethod
    def save_channel_sorting(self, client_id: int, key: str, name: str, parameters: dict,
                             computed_at: datetime, items: list) -> tuple[int, bool]:
        """Create or replace the operator's generated sorting identified by `key`.

        `items` is [(channel id, metrics dict)] in order. The sorting keeps its
        id across re-runs (apps hold it). Returns (id, created).
        """

    @abstractmethod
    def save_selection(self, client_id: int, key: str, name: str, content_type: str,
                       parameters: dict, computed_at: datetime, items: list) -> tuple[int, bool]:
        """Like save_channel_sorting, for a selection of "channel" or "epg" items
        (channel ids or programme ids). Returns (id, created)."""

    @abstractmethod
    def channel_sortings(self, client_id: int) -> list[GeneratedList]:
        """The operator's channel sortings (generated and manual), ordered by id,
        each with its channel ids in order."""

    @abstractmethod
    def selections(self, client_id: int) -> list[GeneratedList]:
        """The operator's visible selections, ordered by id, each with its item ids in order."""
