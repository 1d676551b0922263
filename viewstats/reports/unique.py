"""Unique sessions: split viewings glued back into one.

Sessions with the same IP, User-Agent and content (channel, or stream name
for an unmatched stream, plus the programme for archive viewing) are one
unique session when each starts at most VIEWSTATS_UNIQUE_GAP_SECONDS
(default 300) after the latest end of those before it. A gap of exactly
the window merges; overlapping or nested sessions always merge.

Computed in MongoDB with $setWindowFields (5.0): the content key is
evaluated once per session (`_k`, which the windows and the $group read),
a running max of `end` over the earlier sessions of the partition gives the
gap, a running sum of "starts a new group" numbers the groups, and $group
folds each group into one unique session: start = first start, end = last
end, duration = end - start (the short gaps are counted as watched;
overlaps once), bytes = the sum. Other dimensions are taken from the
group's first session.
"""
from ..conf import setting

# $ifNull: a missing field (device sessions have no `media`) and null must
# fall into the same partition.
CONTENT_KEY = {
    "ip": {"$ifNull": ["$ip", None]}, "ua": {"$ifNull": ["$user_agent", None]},
    "channel": {"$ifNull": ["$channel_id", None]}, "media": {"$ifNull": ["$media", None]},
    "kind": "$kind",
    "programme": {"$cond": [{"$eq": ["$kind", "archive"]}, {"$ifNull": ["$program_id", None]}, None]},
}
CARRIED = ("client_id", "source", "protocol", "account_id", "customer_id", "tariff_ids",
           "device_type", "channel_id", "program_id", "kind", "ip", "user_agent", "ua",
           "country", "media", "server_id")


def gap_seconds():
    return int(setting("VIEWSTATS_UNIQUE_GAP_SECONDS"))


def merge_stages(gap=None, carried=CARRIED, first=None):
    """Pipeline stages turning matched sessions into unique sessions.

    Each output document has start, end, duration, bytes, `raw_sessions`
    (the number of sessions glued into it), the `carried` session fields and
    the `first` expressions ({name: expression}), all of the group's first
    session. A caller names only what its next stages read: each carried
    field is one more accumulator per session.
    """
    gap = gap_seconds() if gap is None else gap
    return [
        {"$set": {"_k": CONTENT_KEY}},
        {"$setWindowFields": {
            "partitionBy": "$_k", "sortBy": {"start": 1},
            "output": {"_prev_end": {"$max": "$end", "window": {"documents": ["unbounded", -1]}}}}},
        # "Starts a new group" is summed where it is decided: no stage of its own.
        {"$setWindowFields": {
            "partitionBy": "$_k", "sortBy": {"start": 1},
            "output": {"_group": {"$sum": {"$cond": [
                {"$or": [{"$eq": [{"$ifNull": ["$_prev_end", None]}, None]},
                         {"$gt": [{"$subtract": ["$start", "$_prev_end"]}, gap * 1000]}]}, 1, 0]},
                "window": {"documents": ["unbounded", "current"]}}}}},
        {"$group": {
            "_id": {"k": "$_k", "g": "$_group"},
            "start": {"$min": "$start"}, "end": {"$max": "$end"},
            "bytes": {"$sum": {"$ifNull": ["$bytes", 0]}}, "raw_sessions": {"$sum": 1},
            **{name: {"$first": f"${name}"} for name in carried},
            **{name: {"$first": expression} for name, expression in (first or {}).items()}}},
        {"$set": {"duration": {"$toLong": {"$divide": [{"$subtract": ["$end", "$start"]}, 1000]}}}},
    ]
