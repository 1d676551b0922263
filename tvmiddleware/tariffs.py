"""Tariff history of accounts: who had which tariff when.

Account.tariffs stays the current set that the middleware's own screens
edit; every change to it also closes and opens AccountTariffPeriod rows, so
the statistics can ask which tariffs an account had at any instant.
"""
import contextvars
from contextlib import contextmanager

from django.db import transaction
from django.utils import timezone

from .models import Account, AccountTariffPeriod

_recording_paused = contextvars.ContextVar("tariff_recording_paused", default=False)


def open_periods(account_id):
    return AccountTariffPeriod.objects.filter(account_id=account_id, end__isnull=True)


def record_added(account, tariff_ids, at=None):
    """Open a period for each of `tariff_ids` the account does not hold yet.

    An account's first tariffs count from when it became active: tariffs set
    while creating it belong to all of its life, not to the moment of saving.
    """
    at = at or timezone.now()
    if not AccountTariffPeriod.objects.filter(account_id=account.pk).exists():
        at = _first_start(account, at)
    held = set(open_periods(account.pk).values_list("tariff_id", flat=True))
    AccountTariffPeriod.objects.bulk_create([
        AccountTariffPeriod(account_id=account.pk, tariff_id=t, start=at)
        for t in sorted(set(tariff_ids) - held)])


def _first_start(account, at):
    return min(at, account.activation_date or account.created_at)


def add_first_tariffs(accounts):
    """Give new accounts, saved without tariffs, their first ones, many at once.

    `accounts`: (account, tariff ids) pairs. Writes the Account.tariffs rows
    and the periods record_added would open for them (bulk inserts send no
    m2m_changed): for seeded data and test builders.
    """
    now = timezone.now()
    held = [(account, t) for account, tariff_ids in accounts for t in sorted(set(tariff_ids))]
    through = Account.tariffs.through
    through.objects.bulk_create([through(account_id=account.pk, tariff_id=t) for account, t in held])
    AccountTariffPeriod.objects.bulk_create([
        AccountTariffPeriod(account_id=account.pk, tariff_id=t, start=_first_start(account, now))
        for account, t in held])


def record_removed(account_id, tariff_ids=None, at=None):
    periods = open_periods(account_id)
    if tariff_ids is not None:
        periods = periods.filter(tariff_id__in=tariff_ids)
    periods.update(end=at or timezone.now())


def record_tariff_dropped(tariff_id, at=None):
    """Every account loses `tariff_id` (tariff.accounts.clear())."""
    AccountTariffPeriod.objects.filter(tariff_id=tariff_id, end__isnull=True).update(
        end=at or timezone.now())


@contextmanager
def recording_paused():
    token = _recording_paused.set(True)
    try:
        yield
    finally:
        _recording_paused.reset(token)


def recording_enabled():
    return not _recording_paused.get()


def change_tariffs(account, tariff_ids, at):
    """From instant `at` on, the account has exactly `tariff_ids`.

    For imports and billing hooks that know when a change took effect (the
    admin's edits take effect when saved).
    """
    new = set(tariff_ids)
    with transaction.atomic():
        held = set(open_periods(account.pk).values_list("tariff_id", flat=True))
        record_removed(account.pk, held - new, at)
        record_added(account, new - held, at)
        with recording_paused():
            account.tariffs.set(sorted(new))


def backfill(account_model=Account, period_model=AccountTariffPeriod):
    """One open period since the account's start for each current tariff (migration)."""
    rows = []
    for account in account_model.objects.prefetch_related("tariffs").iterator(chunk_size=2000):
        start = account.activation_date or account.created_at
        rows += [period_model(account_id=account.pk, tariff_id=t.pk, start=start)
                 for t in account.tariffs.all()]
    period_model.objects.bulk_create(rows, batch_size=2000)
