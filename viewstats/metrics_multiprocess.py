"""prometheus_client's multiprocess mode under gunicorn: housekeeping of the metric files.

With PROMETHEUS_MULTIPROC_DIR set (in the gunicorn unit only), every worker
writes its counters and histograms to files `<type>_<pid>.db` there, and a
scrape served by any worker adds up all the files. Two chores come with it:

* the folder must be emptied when the server starts: `prepare()`, called
  by deploy/gunicorn.conf.py's on_starting() (the systemd unit's
  RuntimeDirectory is new at each start anyway);
* a dead worker's files stay (its counts are part of the totals), so with
  worker recycling (max_requests) they pile up and every scrape reads more
  of them. `worker_exited()`, called by gunicorn's child_exit hook in the
  master, folds them into one `<type>_archive.db` per type and removes them.
  It holds an exclusive lock that scrapes take shared (`files_lock`), so a
  scrape never sees a worker's counts twice or not at all, which Prometheus
  would take for a counter reset.

Django-free on purpose: gunicorn's master imports it, and keeps it across
reloads; nothing here depends on the app's code or settings.
"""
import glob
import os
from contextlib import contextmanager

LOCK_NAME = ".viewstats-metrics.lock"  # not *.db: the collector ignores it
ARCHIVE = "archive"                   # in place of a pid: counter_archive.db, histogram_archive.db
ADDITIVE_TYPES = ("counter", "histogram", "summary")


def directory():
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


@contextmanager
def files_lock(path, exclusive):
    """Shared while a scrape reads the files, exclusive while worker_exited() rewrites them."""
    import fcntl

    fd = os.open(os.path.join(path, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def prepare(path=None):
    """Create the folder and drop the files of a previous run (before any worker starts)."""
    path = path or directory()
    if not path:
        return
    os.makedirs(path, exist_ok=True)
    for filename in glob.glob(os.path.join(path, "*.db")):
        os.remove(filename)


def worker_exited(pid, path=None):
    """Fold a dead process's counters and histograms into the archive files; drop its files.

    Values in the files are per key and additive (histogram buckets are
    stored per bucket, not cumulated), so adding them key by key keeps every
    total exact. Gauges are left to prometheus_client's own rules (this
    suite exports none from files: its gauges are computed at scrape time).
    """
    from prometheus_client.mmap_dict import MmapedDict
    from prometheus_client.multiprocess import mark_process_dead

    path = path or directory()
    if not path:
        return
    with files_lock(path, exclusive=True):
        for filename in glob.glob(os.path.join(path, f"*_{int(pid)}.db")):
            kind = os.path.basename(filename).split("_")[0]
            if kind not in ADDITIVE_TYPES:
                continue
            archive = MmapedDict(os.path.join(path, f"{kind}_{ARCHIVE}.db"))
            try:
                for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(filename):
                    total, _ = archive.read_value(key)
                    archive.write_value(key, total + value, timestamp)
            finally:
                archive.close()
            os.remove(filename)
        mark_process_dead(int(pid), path)  # 'live' gauges of the process, should any exist
