"""What smartystats asks the middleware, through the host contract.

Counts of subscribers come from a Timeline (subscribers.py) built from the
host's accounts and customers. Inside `reading()` (one command run for one
client, or one series' fill) a client's Timeline is built once and reused
for every bucket, and its payments are read a stretch at a time
(PAYMENTS_READ_AHEAD) instead of once per bucket and series; outside it,
each call reads the host afresh.
"""
import contextvars
from bisect import bisect_left
from collections import defaultdict
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

from viewstats.host import all_client_ids, get_host
from viewstats.host import client_time_zone as time_zone  # noqa: F401  (the operator's IANA zone)
from viewstats.host import device_type_names as _device_type_names
from viewstats.host import client_name, clients  # noqa: F401  (smartystats asks these here too)

from .subscribers import Timeline, merge, own_periods, spans_active_at, status_source

CENT = Decimal("0.01")
# The fills ask for payments bucket by bucket, moving forward, and three
# series (sum, count, payers) ask for the same bucket: one query covers a week.
PAYMENTS_READ_AHEAD = timedelta(days=7)

_timelines = contextvars.ContextVar("smartystats_timelines", default=None)
_payment_stretches = contextvars.ContextVar("smartystats_payment_stretches", default=None)


@contextmanager
def reading():
    """Reuse each client's Timeline and payments until the block ends (host data is read once).

    Inside another reading() block this one reuses that block's reads.
    """
    if _timelines.get() is not None:
        yield
        return
    timelines, stretches = _timelines.set({}), _payment_stretches.set({})
    try:
        yield
    finally:
        _timelines.reset(timelines)
        _payment_stretches.reset(stretches)


def timeline(client_id):
    memo = _timelines.get()
    if memo is not None and client_id in memo:
        return memo[client_id]
    host = get_host()
    built = Timeline(host.accounts(client_id), host.customers(client_id))
    if memo is not None:
        memo[client_id] = built
    return built


class _PaymentStretch:
    """A client's processed payments made in [start, end), read in one query."""

    def __init__(self, client_id, start, end):
        self.start, self.end = start, end
        self.rows = sorted(get_host().payments(client_id, start, end), key=lambda p: p.at)
        self.times = [p.at for p in self.rows]

    def covers(self, start, end):
        return self.start <= start and end <= self.end

    def between(self, start, end):
        return self.rows[bisect_left(self.times, start):bisect_left(self.times, end)]


def _payments_between(client_id, start, end):
    memo = _payment_stretches.get()
    if memo is None:
        return get_host().payments(client_id, start, end)
    stretch = memo.get(client_id)
    if stretch is None or not stretch.covers(start, end):
        stretch = memo[client_id] = _PaymentStretch(client_id, start, max(end, start + PAYMENTS_READ_AHEAD))
    return stretch.between(start, end)


def device_type_names(client_id):
    """{system name: display name}: the dynamics tab shows device types by name."""
    return _device_type_names([client_id])


def existing_client_ids(ids):
    return set(ids) & set(all_client_ids())


def client_of_user(user):
    """The client a staff user works for, or None."""
    return get_host().operator_of_user(user)


def customer_status(client_id):
    """Where customers' active status comes from: "middleware", "accounts" or "mixed"."""
    return timeline(client_id).customer_status


def active_accounts(client_id, at):
    return timeline(client_id).active_accounts(at)


def active_customers(client_id, at):
    return timeline(client_id).active_customers(at)


def new_accounts(client_id, start, end):
    return timeline(client_id).new_accounts(start, end)


def new_customers(client_id, start, end):
    return timeline(client_id).new_customers(start, end)


def deactivated_accounts(client_id, start, end):
    return timeline(client_id).deactivated_accounts(start, end)


def deactivated_customers(client_id, start, end):
    return timeline(client_id).deactivated_customers(start, end)


def payments(client_id, start, end):
    """{currency: (sum Decimal, count, distinct paying customers)} of processed payments."""
    sums, counts, payers = defaultdict(Decimal), defaultdict(int), defaultdict(set)
    for p in _payments_between(client_id, start, end):
        sums[p.currency] += Decimal(p.amount)
        counts[p.currency] += 1
        payers[p.currency].add(p.customer_id)
    return {cur: (sums[cur].quantize(CENT), counts[cur], len(payers[cur])) for cur in sums}


def paying_customers(client_id, start, end):
    """Distinct customers with a processed payment in [start, end), any currency."""
    return len({p.customer_id for p in _payments_between(client_id, start, end)})


def current_state(client_id, at, day_start, month_start):
    """Counts for the snapshot: current statuses, plus arrivals and departures
    since `day_start` and `month_start` up to and including `at`.

    A customer is active now as the middleware says when it gives the
    customer's own periods, else when one of its accounts is active now.
    """
    host = get_host()
    customers_created, own = [], {}
    for customer in host.customers(client_id):
        customers_created.append(customer.created_at)
        periods = own_periods(customer)
        if periods is not None:
            own[customer.id] = merge(periods)
    accounts = {"total": 0, "active": 0, "new_today": 0, "new_month": 0,
                "deactivated_today": 0, "deactivated_month": 0}
    by_reason = defaultdict(int)
    by_device = defaultdict(lambda: {"total": 0, "active": 0})
    tariff_totals = defaultdict(lambda: {"total": 0, "active": 0})
    periods_of_customer = defaultdict(list)
    active_customers = {cid for cid, spans in own.items() if spans_active_at(spans, at)}

    def since(instant, start):
        return instant is not None and start <= instant <= at

    for a in host.accounts(client_id):
        accounts["total"] += 1
        derived = a.customer_id not in own
        if derived:
            periods_of_customer[a.customer_id] += a.active_periods
        if a.active:
            accounts["active"] += 1
            if derived:
                active_customers.add(a.customer_id)
        else:
            by_reason[a.status] += 1
        accounts["new_today"] += since(a.created_at, day_start)
        accounts["new_month"] += since(a.created_at, month_start)
        ends = [end for _, end in merge(a.active_periods) if end is not None]
        accounts["deactivated_today"] += sum(since(e, day_start) for e in ends)
        accounts["deactivated_month"] += sum(since(e, month_start) for e in ends)
        for name in a.device_types:
            by_device[name]["total"] += 1
            by_device[name]["active"] += a.active
        for tariff_id in a.tariffs_at(at):
            tariff_totals[tariff_id]["total"] += 1
            tariff_totals[tariff_id]["active"] += a.active
    gone = [spans[-1][1] for spans in [*own.values(), *map(merge, periods_of_customer.values())]
            if spans and spans[-1][1] is not None]
    total_customers = len(customers_created)
    accounts["inactive"] = sum(by_reason.values())
    accounts["inactive_by_reason"] = dict(sorted(by_reason.items()))
    return {
        "customers": {
            "total": total_customers, "active": len(active_customers),
            "inactive": total_customers - len(active_customers),
            "new_today": sum(since(t, day_start) for t in customers_created),
            "new_month": sum(since(t, month_start) for t in customers_created),
            "deactivated_today": sum(since(t, day_start) for t in gone),
            "deactivated_month": sum(since(t, month_start) for t in gone),
        },
        "accounts": accounts,
        "accounts_by_device_type": dict(sorted(by_device.items())),
        "accounts_by_tariff": [{"id": t.id, "name": t.name, **tariff_totals[t.id]}
                               for t in host.tariffs(client_id)],
        "customer_status": status_source(len(own), total_customers),
    }
