"""Everything smartystats reads from the middleware (the host).

The one module to change when porting to another middleware. Definitions the
widgets rely on, all in UTC with half-open intervals [start, end):

- An account is *active at t* when its activation_date (or, if it has none,
  its created_at) is <= t and its deactivation_date is empty or > t.
- A customer is *active at t* when at least one of its accounts is.
- A *new* account / customer is one whose created_at falls in the interval.
- A *deactivated* account is one whose deactivation_date falls in it; a
  *deactivated* customer is one that lost its last account for good: every
  one of its accounts has a deactivation_date and the latest falls in it.
- Payments are processed transactions (billing_customertransaction) by
  created_at.

The snapshot (`current_state`) instead reads the accounts' current `active`
flag and `status_reason`, as the middleware's own admin shows them.
"""
from collections import defaultdict
from decimal import Decimal

from django.db.models import Count, Max, Q, Sum

from tvmiddleware import models as host

CENT = Decimal("0.01")


def all_client_ids():
    return list(host.Client.objects.order_by("id").values_list("id", flat=True))


def existing_client_ids(ids):
    return set(host.Client.objects.filter(id__in=ids).values_list("id", flat=True))


def clients():
    """[(id, name)] of every client, for the superuser's client chooser."""
    return list(host.Client.objects.order_by("id").values_list("id", "name"))


def client_name(client_id):
    return host.Client.objects.filter(id=client_id).values_list("name", flat=True).first()


def client_of_user(user):
    """The client a staff user works for, or None."""
    return (host.StaffMembership.objects.filter(user_id=user.pk)
            .values_list("client_id", flat=True).first())


def _active_at(t, prefix=""):
    p = prefix
    started = Q(**{f"{p}activation_date__lte": t}) | Q(
        **{f"{p}activation_date__isnull": True, f"{p}created_at__lte": t})
    not_ended = Q(**{f"{p}deactivation_date__isnull": True}) | Q(**{f"{p}deactivation_date__gt": t})
    return started & not_ended


def active_accounts(client_id, at):
    return host.Account.objects.filter(_active_at(at), client_id=client_id).count()


def active_customers(client_id, at):
    return (host.Account.objects.filter(_active_at(at), client_id=client_id)
            .values("customer_id").distinct().count())


def new_accounts(client_id, start, end):
    return host.Account.objects.filter(client_id=client_id, created_at__gte=start,
                                       created_at__lt=end).count()


def new_customers(client_id, start, end):
    return host.Customer.objects.filter(client_id=client_id, created_at__gte=start,
                                        created_at__lt=end).count()


def deactivated_accounts(client_id, start, end):
    return host.Account.objects.filter(client_id=client_id, deactivation_date__gte=start,
                                       deactivation_date__lt=end).count()


def _gone_customers(client_id):
    return (host.Customer.objects.filter(client_id=client_id)
            .annotate(accounts_n=Count("accounts"),
                      open_n=Count("accounts", filter=Q(accounts__deactivation_date__isnull=True)),
                      last_end=Max("accounts__deactivation_date"))
            .filter(accounts_n__gt=0, open_n=0))


def deactivated_customers(client_id, start, end):
    return _gone_customers(client_id).filter(last_end__gte=start, last_end__lt=end).count()


def payments(client_id, start, end):
    """{currency: (sum Decimal, count, distinct paying customers)} of processed payments."""
    rows = (host.Payment.objects
            .filter(client_id=client_id, processed=True, created_at__gte=start, created_at__lt=end)
            .order_by().values("currency")
            .annotate(total=Sum("amount"), n=Count("id"), payers=Count("customer_id", distinct=True)))
    # SQLite sums decimals as floats-with-noise; amounts carry two places.
    return {r["currency"]: ((r["total"] or Decimal("0")).quantize(CENT), r["n"], r["payers"])
            for r in rows}


def paying_customers(client_id, start, end):
    """Distinct customers with a processed payment in [start, end), any currency."""
    return (host.Payment.objects
            .filter(client_id=client_id, processed=True, created_at__gte=start, created_at__lt=end)
            .values("customer_id").distinct().count())


def current_state(client_id, at, day_start, month_start):
    """Counts for the snapshot: current flags, plus arrivals and departures
    since `day_start` and `month_start` up to and including `at`."""
    accounts = host.Account.objects.filter(client_id=client_id)
    customers = host.Customer.objects.filter(client_id=client_id)
    by_reason = dict(accounts.filter(active=False).order_by().values_list("status_reason")
                     .annotate(n=Count("id")))
    cust_total = customers.count()
    cust_active = accounts.filter(active=True).values("customer_id").distinct().count()
    gone = _gone_customers(client_id)

    def since(qs, field, start):
        return qs.filter(**{f"{field}__gte": start, f"{field}__lte": at}).count()

    by_device = defaultdict(lambda: {"total": 0, "active": 0})
    device_rows = (host.AccountDevice.objects.filter(account__client_id=client_id).order_by()
                   .values_list("play_device__system_name")
                   .annotate(total=Count("account_id", distinct=True),
                             active=Count("account_id", distinct=True,
                                          filter=Q(account__active=True))))
    for name, total, active in device_rows:
        by_device[name] = {"total": total, "active": active}
    tariff_rows = (host.Tariff.objects.filter(client_id=client_id).order_by("id")
                   .annotate(total=Count("accounts", distinct=True),
                             active=Count("accounts", distinct=True,
                                          filter=Q(accounts__active=True)))
                   .values_list("id", "name", "total", "active"))
    return {
        "customers": {
            "total": cust_total, "active": cust_active, "inactive": cust_total - cust_active,
            "new_today": since(customers, "created_at", day_start),
            "new_month": since(customers, "created_at", month_start),
            "deactivated_today": since(gone, "last_end", day_start),
            "deactivated_month": since(gone, "last_end", month_start),
        },
        "accounts": {
            "total": accounts.count(), "active": accounts.filter(active=True).count(),
            "inactive": sum(by_reason.values()),
            "inactive_by_reason": {r: by_reason.get(r, 0) for r in host.Account.Status.values
                                   if r != host.Account.Status.ACTIVE or by_reason.get(r)},
            "new_today": since(accounts, "created_at", day_start),
            "new_month": since(accounts, "created_at", month_start),
            "deactivated_today": since(accounts, "deactivation_date", day_start),
            "deactivated_month": since(accounts, "deactivation_date", month_start),
        },
        "accounts_by_device_type": dict(sorted(by_device.items())),
        "accounts_by_tariff": [{"id": i, "name": n, "total": t, "active": a}
                               for i, n, t, a in tariff_rows],
    }
