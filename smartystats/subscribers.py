"""Subscriber counts over time, from the host's accounts and customers.

The definitions the widgets rely on live here, once, for every host (all
intervals half-open [start, end)):

- An account is *active at t* when one of its active periods contains t.
- A customer is *active at t* when the middleware says so: one of the
  customer's own active periods contains t, for a host whose `Customer`
  carries `active_periods` (not None). Otherwise its status is derived from
  its accounts: it is active when at least one of them is.
- A *new* account / customer is one created in the interval.
- A *deactivated* account is one whose active period ends in the interval
  (an account deactivated twice in it counts twice); a *deactivated*
  customer is one whose last active period ended for good in the interval:
  none of its periods (its own, or its accounts' when derived) is
  open-ended and the latest end falls in the interval. Derived from
  accounts, that is the customer who lost its last account.
- Payments are the host's processed payments, by their time.

A Timeline reads the accounts and customers once and answers any instant or
interval by bisection, so filling a month of hourly buckets costs one pass
over the host's accounts, not one per bucket. It keeps only sorted instants,
never the account objects.
"""
import bisect
from collections import defaultdict
from datetime import datetime, timezone

# Stands for "since ever" (a period with no start) in sorted lists of instants.
_EVER = datetime.min.replace(tzinfo=timezone.utc)


def merge(periods):
    """Sorted, non-overlapping (start, end) pairs covering `periods`; end None = open."""
    spans = sorted((((p.start or _EVER), p.end) for p in periods), key=lambda span: span[0])
    merged = []
    for start, end in spans:
        if end is not None and end <= start:
            continue
        if merged and (merged[-1][1] is None or start <= merged[-1][1]):
            last_start, last_end = merged[-1]
            merged[-1] = (last_start, None if end is None or last_end is None else max(end, last_end))
        else:
            merged.append((start, end))
    return merged


class _Levels:
    """How many of a set of intervals contain an instant."""

    def __init__(self):
        self.starts, self.ends = [], []

    def add(self, spans):
        for start, end in spans:
            self.starts.append(start)
            if end is not None:
                self.ends.append(end)

    def freeze(self):
        self.starts.sort()
        self.ends.sort()

    def at(self, t):
        return bisect.bisect_right(self.starts, t) - bisect.bisect_right(self.ends, t)


def _between(sorted_instants, start, end):
    return bisect.bisect_left(sorted_instants, end) - bisect.bisect_left(sorted_instants, start)


# Where customers' active status comes from (StatsSnapshot.customer_status).
FROM_MIDDLEWARE, FROM_ACCOUNTS, MIXED = "middleware", "accounts", "mixed"
STATUS_SOURCES = {FROM_MIDDLEWARE: "from the middleware", FROM_ACCOUNTS: "derived from accounts",
                  MIXED: "from the middleware where it has one, else derived from accounts"}


def own_periods(customer):
    """The customer's own active periods, or None when the host does not know them.

    Read with getattr: the contract's Customer gains `active_periods` as an
    optional field, and hosts written before it (or without a customer
    status) leave it out.
    """
    return getattr(customer, "active_periods", None)


def status_source(with_own, total):
    if not with_own:
        return FROM_ACCOUNTS
    return FROM_MIDDLEWARE if with_own == total else MIXED


def spans_active_at(spans, t):
    return any(start <= t and (end is None or t < end) for start, end in spans)


class Timeline:
    """The client's accounts and customers reduced to sorted instants."""

    def __init__(self, accounts, customers):
        self.account_levels, self.customer_levels = _Levels(), _Levels()
        self.account_created, self.account_ended = [], []
        self.customer_created, own = [], {}
        for c in customers:
            self.customer_created.append(c.created_at)
            periods = own_periods(c)
            if periods is not None:
                own[c.id] = periods
        self.customer_created.sort()
        self.customer_status = status_source(len(own), len(self.customer_created))
        periods_of_customer = defaultdict(list)
        for account in accounts:
            spans = merge(account.active_periods)
            self.account_levels.add(spans)
            self.account_created.append(account.created_at)
            self.account_ended += [end for _, end in spans if end is not None]
            if account.customer_id not in own:
                periods_of_customer[account.customer_id] += account.active_periods
        self.customer_gone = []
        for periods in [*own.values(), *periods_of_customer.values()]:
            spans = merge(periods)
            self.customer_levels.add(spans)
            if spans and spans[-1][1] is not None:
                self.customer_gone.append(spans[-1][1])
        for levels in (self.account_levels, self.customer_levels):
            levels.freeze()
        for instants in (self.account_created, self.account_ended, self.customer_gone):
            instants.sort()

    def active_accounts(self, at):
        return self.account_levels.at(at)

    def active_customers(self, at):
        return self.customer_levels.at(at)

    def new_accounts(self, start, end):
        return _between(self.account_created, start, end)

    def new_customers(self, start, end):
        return _between(self.customer_created, start, end)

    def deactivated_accounts(self, start, end):
        return _between(self.account_ended, start, end)

    def deactivated_customers(self, start, end):
        return _between(self.customer_gone, start, end)
