"""Small helpers the benches can share: percentiles, and timing with the documents-examined meter.

Importable before Django is set up: the viewstats modules are imported
inside the functions that need them.

    from _common import Cost, measure, percentile

    with measure() as cost:          # metered (store.examined()), meter's own time left out
        run_a_report()
    cost.wall, cost.cpu, cost.examined, cost.by_collection, cost.worst

The meter does real work of its own: on the embedded engine it counts, per
metered operation, the documents each candidate index would examine (each
count a pass over the collection, lookups by `_id` aside); on a MongoDB server
it runs the operation again as `explain`. measure() times that work apart and subtracts it, so
`wall` and `cpu` are the cost of the code measured, as it would run
unmetered. `metered=False` skips the meter (then `examined` is None).
"""
import contextlib
import math
import time


def percentile(values, q):
    """The q-th percentile (nearest rank) of `values`; nan for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


class Cost:
    """Wall and CPU seconds of one measured piece of code, and what the meter saw."""

    def __init__(self):
        self.wall = self.cpu = 0.0
        self.meter_wall = self.meter_cpu = 0.0  # the meter's own time, already left out
        self.meter = None

    @property
    def examined(self):
        return None if self.meter is None else self.meter.total

    @property
    def worst(self):
        return None if self.meter is None else self.meter.worst_total

    @property
    def by_collection(self):
        return {} if self.meter is None else dict(self.meter.by_collection)

    def examined_text(self, limit=3):
        """'sessions 1200, rollups 300' (largest first), or '' without a meter."""
        if self.meter is None:
            return ""
        parts = sorted(self.by_collection.items(), key=lambda kv: -kv[1])
        text = ", ".join(f"{name} {count}" for name, count in parts[:limit] if count)
        if len(parts) > limit and sum(c for _, c in parts[limit:]):
            text += f", other {sum(c for _, c in parts[limit:])}"
        if self.worst is not None and self.worst != self.examined:
            text += f"; {self.worst} if a planner chose the rival plans"
        return text


@contextlib.contextmanager
def measure(metered=True):
    """Time the block (wall and process CPU); meter it with store.examined() when `metered`."""
    from viewstats import examined, store

    cost = Cost()
    spent = [0.0, 0.0]
    original = examined._Metered._measure

    def timed_measure(self, *args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - wall
            spent[1] += time.process_time() - cpu

    meter = store.examined() if metered else contextlib.nullcontext()
    if metered:
        examined._Metered._measure = timed_measure
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        with meter as m:
            yield cost
    finally:
        cost.wall = time.perf_counter() - wall - spent[0]
        cost.cpu = time.process_time() - cpu - spent[1]
        cost.meter_wall, cost.meter_cpu = spent
        cost.meter = m if metered else None
        if metered:
            examined._Metered._measure = original

