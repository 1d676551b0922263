"""Run per-client work inline or on RQ workers, one job per client.

Commands of both apps call `dispatch`. With SMARTY_USE_RQ on, each client's
work becomes one job on VIEWSTATS_RQ_QUEUE (workers on any host pick them up:
`manage.py rqworker statistics`); without it, the work runs in the command's
own process. The job function must be importable by dotted path, take the
client id first, and return something JSON-serialisable for the summary.
"""
from dataclasses import dataclass, field

from .conf import setting


@dataclass
class Dispatched:
    queued: dict = field(default_factory=dict)   # client id -> RQ job id
    results: dict = field(default_factory=dict)  # client id -> job result (inline)


def use_rq():
    return bool(setting("SMARTY_USE_RQ"))


def get_queue():
    import django_rq

    return django_rq.get_queue(setting("VIEWSTATS_RQ_QUEUE"))


def dispatch(func, client_ids, *, kwargs=None, description="", on_result=None):
    """Run `func(client_id, **kwargs)` for every client; return a Dispatched.

    `on_result(client_id, result)` is called as each inline run finishes, so
    a command can print progress while it works.
    """
    kwargs = kwargs or {}
    outcome = Dispatched()
    if use_rq():
        queue = get_queue()
        for client_id in client_ids:
            job = queue.enqueue(func, args=(client_id,), kwargs=kwargs,
                                description=f"{description} (client {client_id})".strip())
            outcome.queued[client_id] = job.id
        return outcome
    for client_id in client_ids:
        result = func(client_id, **kwargs)
        outcome.results[client_id] = result
        if on_result:
            on_result(client_id, result)
    return outcome
