"""Keep the tariff history in step with edits of Account.tariffs."""
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from . import tariffs
from .models import Account


@receiver(m2m_changed, sender=Account.tariffs.through)
def record_tariff_change(sender, instance, action, reverse, pk_set, **kwargs):
    if not tariffs.recording_enabled():
        return
    if reverse:  # tariff.accounts.add(account, ...): pk_set holds account ids
        if action == "post_add":
            for account in Account.objects.filter(pk__in=pk_set):
                tariffs.record_added(account, [instance.pk])
        elif action == "post_remove":
            for account_id in pk_set:
                tariffs.record_removed(account_id, [instance.pk])
        elif action == "pre_clear":
            tariffs.record_tariff_dropped(instance.pk)
        return
    if action == "post_add":
        tariffs.record_added(instance, pk_set)
    elif action == "post_remove":
        tariffs.record_removed(instance.pk, pk_set)
    elif action == "pre_clear":
        tariffs.record_removed(instance.pk)
