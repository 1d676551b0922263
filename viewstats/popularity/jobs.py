"""RQ job functions: one client's work each, by dotted path.

`viewstats.offload.dispatch` runs them inline or enqueues them on
VIEWSTATS_RQ_QUEUE; `manage.py rqworker statistics` runs queued ones. They
take the client id first and JSON-able options (the commands validated
them), and return the JSON-able result, kept by RQ as the job's result.
"""
from . import service


def channel_sorting_job(client_id, **options):
    return service.build_channel_sorting(client_id, **options)


def channel_selection_job(client_id, **options):
    return service.build_channel_selection(client_id, **options)


def epg_selection_job(client_id, **options):
    return service.build_epg_selection(client_id, **options)
