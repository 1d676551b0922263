"""Refresh stored sessions' device fields after a rules or database update.

Walks each client's sessions by `_id` in bounded batches. Each distinct
(User-Agent, X-User-Agent) pair is classified once (through the process and
shared caches, so a second run or a second process reuses the answers) and
only sessions whose fields change are written. After every batch the last
`_id` is saved as a checkpoint in `ua_cache`: a run that was stopped goes on
from there, and a finished client's checkpoint is removed.

`pending_only` restricts the walk to sessions still waiting for their full
classification (`ua_pending`), which is what a deployment without the
background filler runs every minute.
"""
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .. import store
from . import uacache


@dataclass
class Progress:
    client_id: int
    scanned: int = 0
    changed: int = 0
    strings: int = 0
    last_id: object = None
    resumed: bool = False
    done: bool = False
    types: dict = field(default_factory=dict)


def _checkpoint_name(client_id, pending_only):
    return f"{'pending' if pending_only else 'all'}:{client_id}"


def reclassify_client(client_id, batch_size=1000, pending_only=False, restart=False, max_batches=None,
                      report=None):
    """Reclassify one client's sessions; returns its Progress.

    `report(progress)` is called after every batch. `max_batches` stops early
    (the checkpoint stays, so the next call resumes).
    """
    name = _checkpoint_name(client_id, pending_only)
    progress = Progress(client_id)
    checkpoint = None if restart else store.ua_checkpoint(name)
    if checkpoint and checkpoint.get("version") == uacache.version():
        progress.last_id = checkpoint.get("last_id")
        progress.scanned = checkpoint.get("scanned", 0)
        progress.changed = checkpoint.get("changed", 0)
        progress.resumed = True
    seen = {}
    batches = 0
    while True:
        docs = store.ua_session_batch(client_id, progress.last_id, batch_size, pending_only)
        if not docs:
            progress.done = True
            store.ua_drop_checkpoint(name)
            break
        updates = []
        for doc in docs:
            pair = (doc.get("user_agent") or "", doc.get("x_user_agent") or "")
            entry = seen.get(pair)
            if entry is None:
                entry = seen[pair] = uacache.full(*pair)
            key, ua = entry
            progress.types[ua["type"]] = progress.types.get(ua["type"], 0) + 1
            if doc.get("ua") != ua or doc.get("ua_hash") != key or pending_only:
                updates.append((doc["_id"], {"ua": ua, "ua_hash": key}))
        progress.changed += store.ua_set_sessions(client_id, updates) if updates else 0
        progress.scanned += len(docs)
        progress.last_id = docs[-1]["_id"]
        progress.strings = len(seen)
        store.ua_save_checkpoint(name, {"last_id": progress.last_id, "scanned": progress.scanned,
                                        "changed": progress.changed, "version": uacache.version(),
                                        "saved_at": datetime.now(timezone.utc)})
        batches += 1
        if report:
            report(progress)
        if max_batches is not None and batches >= max_batches:
            break
    return progress
