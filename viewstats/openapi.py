"""The OpenAPI 3.1 document of every HTTP API the suite serves.

`build()` makes it; the package ships the result as
viewstats/static/viewstats/openapi.json, served at /viewstats/api/openapi.json
and rendered at /viewstats/api/docs/ (views/apidoc.py). After changing an
API, or a report's parameters (reports/run.py PARAMS, which this module
reads), write it again:

    python manage.py viewstats_openapi            # rewrites the shipped file
    python manage.py viewstats_openapi --check    # exit 1 when it is stale

tests/test_openapi.py fails while the shipped file differs from build(),
checks that every documented path is routed and every routed API is
documented, and runs Schemathesis against the app in-process.

Paths are those of the README's URLconf: the suite under /viewstats/ and
/smartystats/, the reference host under /tvmiddleware/. A middleware that
mounts the apps elsewhere, or its own device API, has other prefixes.
"""
import copy
import json
from pathlib import Path

from . import ratings as ratings_module
from .reports import filters as report_filters
from .reports.run import PARAMS as REPORT_PARAMS
from .reports.run import REPORTS

OPENAPI_VERSION = "3.1.0"
DOCUMENT_VERSION = "1.0.0"
SHIPPED = Path(__file__).resolve().parent / "static" / "viewstats" / "openapi.json"

INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1
REPORT_NAMES = REPORTS + ("timeline",)
BREAKDOWNS = ("channel", "programme", "device", "country", "protocol")


def ref(name, kind="schemas"):
    return {"$ref": f"#/components/{kind}/{name}"}


def nullable(schema_type, **extra):
    return {"type": [schema_type, "null"], **extra}


def obj(properties, required=(), description=None, **extra):
    out = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    if description:
        out["description"] = description
    out.update(extra)
    return out


def array(items, **extra):
    return {"type": "array", "items": items, **extra}


ID = {"type": "integer", "format": "int64", "minimum": 0, "maximum": INT64_MAX}
INT64 = {"type": "integer", "format": "int64", "minimum": INT64_MIN, "maximum": INT64_MAX}
COUNT = {"type": "integer", "minimum": 0}
SECONDS = {"type": "number", "description": "seconds"}
ANY_ID = {"type": ["string", "integer", "null"],
          "description": "the host's id: an integer or text (strings and UUIDs included)"}
LOCAL_TIME = {"type": "string", "format": "date-time",
              "description": "ISO 8601 with the UTC offset of the operator's zone"}
DATE = {"type": "string", "format": "date"}


# ------------------------------------------------------------------ components

def security_schemes():
    return {
        "sessionCookie": {
            "type": "apiKey", "in": "cookie", "name": "sessionid",
            "description": "The Django admin session of a staff user (log in at /admin/). Staff see "
                           "their own operator (*Operator staff*); superusers see every operator and may "
                           "name one."},
        "apiToken": {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "`Authorization: Token <key>`: a viewstats API token (*API tokens* in the "
                           "admin), for scripts. The token reads what its user may read."},
        "mediaServerBearer": {
            "type": "http", "scheme": "bearer",
            "description": "`Authorization: Bearer <token>` of a *Media server* the operator created in "
                           "the admin; that row decides the operator."},
        "metricsBearer": {
            "type": "http", "scheme": "bearer",
            "description": "`Authorization: Bearer <VIEWSTATS_METRICS_TOKEN>`, for Prometheus. With "
                           "VIEWSTATS_METRICS_ALLOWED_IPS the caller's address must be listed too."},
        "deviceBearer": {
            "type": "http", "scheme": "bearer",
            "description": "`Authorization: Bearer <authkey>`: the device's authkey from the "
                           "middleware's login, as a header."},
        "authkey": {
            "type": "apiKey", "in": "query", "name": "authkey",
            "description": "The device's `authkey` from the middleware's login (reference host: "
                           "`GET /tvmiddleware/api/login/`). The operator is always the authkey's."},
        "basicAuth": {
            "type": "http", "scheme": "basic",
            "description": "HTTP Basic with a staff user's username and password, for scripts."},
        "hostApiKey": {
            "type": "apiKey", "in": "query", "name": "api_key",
            "description": "The reference host's per-operator `api_key`, sent with `client_id`."},
    }


def schemas():
    figures = {
        "viewers": {**COUNT, "description": "distinct viewers (accounts, else IP + User-Agent)"},
        "sessions": {**COUNT, "description": "sessions that started in the range"},
        "watch_time": {**SECONDS, "description": "sum of the sessions' durations, seconds"},
        "bytes": {"type": "number", "description": "bytes sent (media-server sessions only)"},
        "avg_watch_time": {**SECONDS, "description": "watch_time ÷ sessions, to 0.1 s"},
        "raw_sessions": {**COUNT, "description": "with unique=1: the raw sessions glued into these"},
    }
    dimension_fields = {
        "channel": {"channel_id": nullable("integer"),
                    "media": nullable("string", description="stream name when no channel plays it"),
                    "channel": {"type": "string"}},
        "programme": {"channel_id": nullable("integer"), "program_id": nullable("integer"),
                      "channel": {"type": "string"}, "programme": {"type": "string"}},
        "device": {"device_type": nullable("string"), "type": nullable("string"),
                   "brand": nullable("string"), "model": nullable("string"), "app": nullable("string")},
        "country": {"country": nullable("string")},
        "protocol": {"source": nullable("string"), "protocol": nullable("string")},
    }
    out = {
        "Error": obj({"error": {"type": "string", "description": "what is wrong, naming the parameter"}},
                     ["error"], "A refused request."),
        "Unavailable": obj({"error": {"const": "statistics database unavailable"},
                            "detail": {"type": "string"}, "retry_after": COUNT},
                           ["error", "detail", "retry_after"],
                           "MongoDB cannot be reached: nothing was lost, try again after `retry_after` "
                           "seconds (also the `Retry-After` header)."),
        "PushAnswer": obj({
            "error": {"type": "integer", "enum": [0, 1, 2, 3, 4],
                      "description": "0 stored; 1 missing or invalid parameter (also an unknown authkey, a "
                                     "client_id that does not match, a channel or programme of another "
                                     "client); 2 the statistics database is unreachable (resend later); "
                                     "3 collection is not enabled for this device type; 4 record limit "
                                     "exceeded (VIEWSTATS_MAX_SESSIONS_PER_ACCOUNT_DAY)"},
            "error_message": {"type": "string", "description": "empty on success; else names the problem"}},
            ["error", "error_message"], "Smarty's answer; the HTTP status is always 200."),
        "BatchItem": obj({
            "id": {"type": ["string", "integer"], "maxLength": 128,
                   "description": "the app's id of the interval; a resent id is a duplicate, never stored twice"},
            "channel_id": {"type": ["integer", "string"], "description": "a channel of the authenticated "
                           "client (an integer, or its digits as a string)"},
            "start": ref("Instant"), "end": ref("Instant"),
            "type": {"type": "string", "enum": ["live", "archive", "pvr"], "default": "live"},
            "program_id": {"type": ["integer", "string"],
                           "description": "live: optional (default: on air at start); archive: required"},
            "timeshift_offset": {"type": ["integer", "string"], "description": "hours behind live, at most "
                                 "VIEWSTATS_MAX_TIMESHIFT_HOURS (168)"},
            "archive_offset": {"type": ["integer", "string"], "description": "seconds into the programme"},
            "client_id": {"type": ["integer", "string"], "description": "must equal the authenticated client"}},
            ["id", "channel_id", "start", "end"], "One finished viewing interval."),
        "Instant": {"type": ["string", "number"],
                    "description": "ISO 8601 with an offset (none is rejected), or Unix seconds or "
                                   "milliseconds (told apart by size)",
                    "examples": ["2026-11-20T18:00:00Z", 1763661600]},
        "BatchResult": obj({
            "accepted": COUNT,
            "accepted_ids": array({"type": "string"}),
            "duplicates": array({"type": "string"}, description="ids already stored (resends)"),
            "rejected": array(obj({"index": COUNT, "id": nullable("string"),
                                   "reasons": array({"type": "string"})}, ["index", "id", "reasons"]),
                              description="items refused for their content, by position in the batch")},
            ["accepted", "accepted_ids", "duplicates", "rejected"],
            "Per-item results: valid items are stored even when others are rejected."),
        "BatchError": obj({"error": {"type": "string"},
                           "code": {"type": "integer", "description": "2 when the database is unreachable"}},
                          ["error"]),
        "MediaServerEvent": obj({
            "event": {"type": "string", "description": "play_opened, play_authorized, play_started, "
                      "play_updated or play_closed; other types (stream_*, source_* …) are counted and "
                      "ignored", "examples": ["play_started"]},
            "id": {"type": ["string", "integer"], "description": "the play session id (≤ 128 characters)"},
            "event_id": {"type": ["string", "integer"], "description": "optional: the event's own id"},
            "utc_ms": {"type": "number", "description": "event time, milliseconds or seconds"},
            "opened_at": {"type": "number"}, "started_at": {"type": "number"},
            "updated_at": {"type": "number"}, "closed_at": {"type": "number"},
            "media": {"type": "string", "description": "stream name (else `name`)"},
            "name": {"type": "string"},
            "ip": {"type": "string"}, "user_agent": {"type": "string"}, "x_user_agent": {"type": "string"},
            "token": {"type": "string", "description": "tried as a device authkey"},
            "user_id": {"type": "string", "description": "tried as an abonement or account id"},
            "proto": {"type": "string"}, "bytes": {**COUNT, "description": "running total sent"},
            "dvr": {"type": "boolean"}, "manifest_type": {"type": "string"},
            "peer": {"type": "string", "description": "`server` marks another media server's pull"},
            "server": {"type": "string"}, "country": {"type": "string"}, "referer": {"type": "string"}},
            ["event", "id"], "A Flussonic event-sink play event (2023 OpenAPI examples and 2025 Go model)."),
        "MediaServerResult": obj({
            "accepted": COUNT,
            "duplicates": array({"type": "string"}),
            "rejected": array(obj({"index": COUNT, "event_id": nullable("string"),
                                   "reasons": array({"type": "string"})}, ["index", "event_id", "reasons"])),
            "ignored": COUNT,
            "ignored_events": {"type": "object", "additionalProperties": COUNT,
                               "description": "events of types the sink does not use, per type"},
            "sessions_updated": COUNT,
            "sessions_failed": array(obj({"id": {"type": "string"}, "error": {"type": "string"}},
                                         ["id", "error"]),
                                     description="sessions whose update failed: their events are "
                                                 "stored; a resend repairs them")},
            ["accepted", "duplicates", "rejected", "ignored", "ignored_events", "sessions_updated",
             "sessions_failed"]),
        "Figures": obj(figures, ["viewers", "sessions", "watch_time", "bytes", "avg_watch_time"]),
        "Filters": obj({"start": LOCAL_TIME, "end": LOCAL_TIME}, ["start", "end"],
                       "The range [start, end) and every filter in use.",
                       additionalProperties=True),
        "SessionRow": obj({
            "id": {"type": "string"}, "client_id": {"type": "integer"},
            "source": {"type": "string", "enum": ["device", "media_server"]},
            "protocol": nullable("string"), "server_id": nullable("integer"),
            "start": LOCAL_TIME, "end": LOCAL_TIME, "duration": {"type": ["number", "null"]},
            "channel_id": nullable("integer"), "media": nullable("string"),
            "program_id": nullable("integer"), "kind": nullable("string"), "account_id": ANY_ID,
            "device_type": nullable("string"), "ua_type": nullable("string"),
            "ua_brand": nullable("string"), "ua_model": nullable("string"), "ua_app": nullable("string"),
            "ip": nullable("string"), "user_agent": nullable("string"), "country": nullable("string"),
            "bytes": {"type": ["number", "null"]}},
            ["id", "client_id", "source", "start", "end", "channel_id", "account_id"]),
        "DailyRow": obj({
            "client_id": {"type": "integer"}, "day": DATE,
            "server": {"type": "string", "description": "`all`, `devices` or a media server's id"},
            "connections": COUNT,
            "connections_by_protocol": {"type": "object", "additionalProperties": COUNT},
            "traffic_bytes": {"type": "number"}, "peak_out_bps": {"type": ["number", "null"]},
            "peak_out_at": {"type": ["string", "null"]}, "peak_in_bps": {"type": "null"},
            "total_view_time": SECONDS, "avg_view_time": SECONDS,
            "inter_server_connections": COUNT, "inter_server_bytes": {"type": "number"}},
            ["client_id", "day", "server"]),
        "TimelineReport": obj({
            "report": {"const": "timeline"}, "step": {"enum": ["hour", "day"]},
            "zone": {"type": "string"}, "filters": ref("Filters"),
            "points": array(obj({"t": LOCAL_TIME, "sessions": COUNT, "viewers": COUNT,
                                 "watch_time": {"type": "number"}, "bytes": {"type": "number"}},
                                ["t", "sessions", "viewers", "watch_time", "bytes"])),
            "computed_from": {"enum": ["rollups", "sessions"]}},
            ["report", "step", "zone", "filters", "points", "computed_from"],
            "One point per local hour or day of the range, zeros included."),
        "SessionsReport": obj({
            "report": {"const": "sessions"}, "filters": ref("Filters"), "sort": {"type": "string"},
            "rows": array(ref("SessionRow")),
            "next": {"type": ["string", "null"], "description": "pass as `cursor` for the next page"}},
            ["report", "filters", "sort", "rows", "next"]),
        "DailyReport": obj({
            "report": {"const": "daily"}, "date_from": DATE, "date_to": DATE,
            "rows": array(ref("DailyRow"))}, ["report", "date_from", "date_to", "rows"]),
        "Counters": obj({
            "metric": {"enum": ["sessions", "viewers", "watch_time", "traffic"]},
            "year": {"type": "integer"}, "month": nullable("integer"), "day": nullable("integer"),
            "hour": nullable("integer"),
            "data": {"type": "object", "additionalProperties": {"type": "number"},
                     "description": "segment → value: a year's months \"1\"…\"12\", a month's days, a "
                                    "day's clock hours keyed by local start time with offset, an "
                                    "hour's minutes \"0\"…\"59\""},
            "client": {"type": ["integer", "string"], "description": "the client id, or \"all\""}},
            ["metric", "year", "month", "day", "hour", "data", "client"]),
        "RatingsReport": obj({
            "report": {"const": "ratings"}, "client_id": {"type": "integer"}, "zone": {"type": "string"},
            "by": {"enum": ["channel", "programme"]},
            "period": obj({"date_from": DATE, "date_to": DATE, "start": LOCAL_TIME, "end": LOCAL_TIME},
                          ["date_from", "date_to", "start", "end"]),
            "band": obj({"band": {"type": "string"}, "whole_day": {"type": "boolean"},
                         "crosses_midnight": {"type": "boolean"}, "seconds": {"type": "number"},
                         "intervals": COUNT}, ["band", "whole_day", "crosses_midnight", "seconds"]),
            "threshold_seconds": {"type": "number"}, "filters": {"type": "object"},
            "universe": obj({"kind": {"type": "string"}, "size": COUNT}, ["kind", "size"]),
            "rows": array(ref("RatingRow")), "totals": ref("RatingFigures"),
            "notes": array({"type": "string"}),
            "definitions": {"type": "object", "additionalProperties": {"type": "string"}},
            "computed_from": {"type": "string"},
            "hourly": obj({"channel_id": {"type": "integer"}, "channel": nullable("string"),
                           "universe": COUNT,
                           "points": array(obj({"hour": {"type": "integer", "minimum": 0, "maximum": 23},
                                                "label": {"type": "string"}, "seconds": {"type": "number"},
                                                "watch_time": {"type": "number"},
                                                "average_audience": {"type": ["number", "null"]},
                                                "rating": {"type": ["number", "null"]}},
                                               ["hour", "seconds", "watch_time"]))},
                          ["channel_id", "points"],
                          description="with `channel`: its rating by local hour of day")},
            ["report", "client_id", "zone", "by", "period", "band", "universe", "rows", "totals"]),
        "RatingFigures": obj({
            "watch_time": {"type": "number"}, "average_audience": {"type": ["number", "null"]},
            "rating": {"type": ["number", "null"]}, "share": {"type": ["number", "null"]},
            "reach": COUNT, "reach_percent": {"type": ["number", "null"]},
            "ats": {"type": ["number", "null"], "description": "time per reached viewer, seconds"},
            "viewers": COUNT},
            ["watch_time", "average_audience", "rating", "share", "reach", "reach_percent", "ats", "viewers"]),
        "RatingRow": {"allOf": [ref("RatingFigures"), obj({
            "channel_id": nullable("integer"), "media": nullable("string"), "channel": {"type": "string"},
            "program_id": nullable("integer"), "programme": {"type": "string"},
            "programme_begin": {"type": ["string", "null"]}, "programme_end": {"type": ["string", "null"]}},
            ["channel_id", "channel"])]},
        "CatchupReport": obj({
            "report": {"const": "catchup"}, "client_id": {"type": "integer"}, "zone": {"type": "string"},
            "period": obj({"date_from": DATE, "date_to": DATE, "start": LOCAL_TIME, "end": LOCAL_TIME},
                          ["date_from", "date_to"]),
            "filters": {"type": "object"}, "sessions": COUNT, "watch_time": {"type": "number"},
            "archive": ref("CatchupArchive"), "timeshift": ref("CatchupTimeshift"),
            "channels": array(obj({"channel_id": nullable("integer"), "channel": {"type": "string"},
                                   "archive": ref("CatchupArchive"), "timeshift": ref("CatchupTimeshift")},
                                  ["channel_id", "channel", "archive", "timeshift"])),
            "programmes_looked_up": COUNT, "notes": array({"type": "string"}),
            "definitions": {"type": "object", "additionalProperties": {"type": "string"}},
            "computed_from": {"type": "string"}},
            ["report", "client_id", "zone", "period", "sessions", "watch_time", "archive", "timeshift",
             "channels"]),
        "CatchupArchive": obj({
            "sessions": COUNT, "watch_time": {"type": "number"},
            "share_of_all_watch_time": {"type": ["number", "null"]},
            "distribution": array(obj({"bucket": {"type": "string"}, "label": {"type": "string"},
                                       "from_seconds": {"type": ["number", "null"]},
                                       "to_seconds": {"type": ["number", "null"]},
                                       "sessions": COUNT, "watch_time": {"type": "number"}},
                                      ["bucket", "sessions", "watch_time"])),
            "max_age_seconds": {"type": ["number", "null"]}, "depth_days": COUNT,
            "lost": array(obj({"days": COUNT, "sessions": COUNT, "watch_time": {"type": "number"}},
                              ["days", "sessions", "watch_time"]))},
            ["sessions", "watch_time", "distribution", "depth_days", "lost"]),
        "CatchupTimeshift": obj({
            "sessions": COUNT, "watch_time": {"type": "number"}, "live_sessions": COUNT,
            "max_hours": {"type": ["integer", "null"]},
            "distribution": array({"type": "object"}), "by_hour": array({"type": "object"})},
            ["sessions", "watch_time", "distribution"]),
        "SharingReport": obj({
            "client_id": {"type": "integer"}, "client_name": {"type": "string"}, "zone": {"type": "string"},
            "date_from": DATE, "date_to": DATE, "start": LOCAL_TIME, "end": LOCAL_TIME,
            "min_score": {"type": "integer"},
            "thresholds": {"type": "object", "description": "the VIEWSTATS_SHARING_* settings in force"},
            "flagged": COUNT, "below_min_score": {**COUNT, "description": "flagged, but under min_score"},
            "by_reason": {"type": "object", "additionalProperties": COUNT},
            "accounts": array(ref("SharingAccount"), description="highest score first"),
            "account": {"oneOf": [ref("SharingAccount"), {"type": "null"}],
                        "description": "with `account`: its finding (null when it is not flagged)"},
            "account_id": ANY_ID,
            "timeline": obj({"step": {"const": "hour"},
                             "points": array(obj({"t": LOCAL_TIME, "devices": COUNT, "networks": COUNT,
                                                  "channels": COUNT}, ["t"]))},
                            ["step", "points"], description="with `account`: its streams per hour"),
            "urls": {"type": "object", "additionalProperties": {"type": "string"}}},
            ["client_id", "zone", "date_from", "date_to", "min_score", "flagged", "by_reason", "accounts"],
            "Flagged accounts of the period, highest score first; with `account`, also that account's "
            "evidence (`account`, `timeline`)."),
        "SharingAccount": obj({
            "account_id": ANY_ID, "login": {"type": ["string", "null"]},
            "score": {"type": "integer", "minimum": 0, "maximum": 100},
            "verdict": {"type": "string"}, "groups": array({"enum": ["shared", "restream"]}),
            "device_types": array({"type": "string"}),
            "reasons": array(obj({"code": {"type": "string"}, "group": {"type": "string"},
                                  "title": {"type": "string"}, "points": {"type": "integer"},
                                  "text": {"type": "string"}, "facts": {"type": "object"},
                                  "evidence": {"type": "object"}},
                                 ["code", "group", "title", "points", "text"])),
            "urls": {"type": "object", "additionalProperties": {"type": "string"},
                     "description": "the evidence page, the account's sessions, this API"}},
            ["account_id", "score", "verdict", "groups", "reasons"]),
        "Dynamics": obj({
            "client": obj({"id": {"type": "integer"}, "name": {"type": "string"}}, ["id", "name"]),
            "range": obj({"from": DATE, "to": DATE, "frequency": {"enum": ["day", "hour"]}},
                         ["from", "to", "frequency"]),
            "time_zone": {"type": "string"}, "cache_state": {"type": "object"},
            "filled_to": {"type": ["string", "null"]},
            "labels": array({"type": "string"}), "bucket_starts": array({"type": "string"}),
            "end_times": array({"type": "string"}),
            "series": {"type": "object", "description": "series name → values per bucket (per currency "
                                                        "for payments)"},
            "widgets": {"type": "object",
                        "description": "widget → {value, previous, change, change_pct}"}},
            ["client", "range", "time_zone", "labels", "series", "widgets"]),
        "AppError": obj({"error": {"type": "integer", "description": "1 bad parameter, 403, 404"},
                         "error_message": {"type": "string"}}, ["error", "error_message"]),
        "HostAnswer": obj({"error": {"type": "integer", "description": "0 ok; 1 and 2 see the operation; "
                                                                       "403 bad client_id or api_key"},
                           "error_message": {"type": "string"}}, ["error"],
                          additionalProperties=True),
        "ChannelSortList": obj({
            "error": {"const": 0},
            "channel_sort": array(obj({"id": {"type": "integer"}, "name": {"type": "string"},
                                       "type": {"enum": [0, 1], "description": "0 manual, 1 generated"},
                                       "computed_at": {"type": ["string", "null"]}},
                                      ["id", "name", "type", "computed_at"]))},
            ["error", "channel_sort"]),
        "ChannelList": obj({
            "error": {"const": 0}, "channel_sort_id": nullable("integer"),
            "channels": array(obj({"id": {"type": "integer"}, "name": {"type": "string"},
                                   "number": {"type": ["integer", "null"]},
                                   "channel_sort": {"type": "integer", "minimum": 1,
                                                    "description": "1-based place in this list"}},
                                  ["id", "name", "number", "channel_sort"]))},
            ["error", "channel_sort_id", "channels"]),
        "SelectionList": obj({
            "error": {"const": 0},
            "selections": array(obj({"id": {"type": "integer"}, "name": {"type": "string"}, "count": COUNT,
                                     "type": {"enum": [0, 1]},
                                     "content_type": {"enum": [0, 1], "description": "0 channels, 1 programmes"}},
                                    ["id", "name", "count", "type", "content_type"]))},
            ["error", "selections"]),
        "SelectionDetail": obj({
            "error": {"const": 0}, "id": {"type": "integer"}, "name": {"type": "string"}, "count": COUNT,
            "type": {"enum": [0, 1]}, "content_type": {"enum": [0, 1]},
            "next_cursor": {"type": ["string", "null"], "description": "null on the last page"},
            "contents": array({"oneOf": [
                obj({"channel": obj({"id": {"type": "integer"}, "name": {"type": "string"},
                                     "number": {"type": ["integer", "null"]}}, ["id", "name", "number"])},
                    ["channel"]),
                obj({"program": obj({"id": {"type": "integer"}, "name": {"type": "string"},
                                     "begin_time": {"type": "integer", "description": "Unix seconds"},
                                     "end_time": {"type": "integer"}, "channel_id": {"type": "integer"},
                                     "channel_name": {"type": "string"}},
                                    ["id", "name", "begin_time", "end_time", "channel_id"])},
                    ["program"])]})},
            ["error", "id", "name", "count", "type", "content_type", "next_cursor", "contents"]),
    }
    for name in BREAKDOWNS:
        row = {"allOf": [ref("Figures"), obj(dimension_fields[name], list(dimension_fields[name]))]}
        out[f"{name.capitalize()}Row"] = row
        out[f"{name.capitalize()}Report"] = obj({
            "report": {"const": name}, "unique": {"type": "boolean"}, "filters": ref("Filters"),
            "rows": array(ref(f"{name.capitalize()}Row"), description="largest first"),
            "totals": ref("Figures"),
            "additive": array({"type": "string"}, description="figures whose rows add up to the totals"),
            "computed_from": {"enum": ["rollups", "sessions"]}},
            ["report", "unique", "filters", "rows", "totals", "additive", "computed_from"])
    out["UniqueReport"] = obj({
        "report": {"const": "unique"}, "unique": {"const": True}, "filters": ref("Filters"),
        "rows": array(ref("ChannelRow")), "totals": ref("Figures"),
        "gap_seconds": COUNT, "raw_totals": ref("Figures"),
        "additive": array({"type": "string"}), "computed_from": {"const": "sessions"}},
        ["report", "filters", "rows", "totals", "gap_seconds", "raw_totals"],
        "Sessions of the same IP address, User-Agent and content glued when each starts at most "
        "gap_seconds after the latest end before it; per channel.")
    return out


def headers():
    return {
        "RetryAfter": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}},
        "RequestId": {"description": "the request's id (the incoming X-Request-ID when sane, else a new "
                                     "one); log lines written while serving it carry it",
                      "required": True, "schema": {"type": "string"}},
    }


# ------------------------------------------------------------------ parameters

def q(name, schema, description, required=False, **extra):
    out = {"name": name, "in": "query", "required": required, "description": description, "schema": schema}
    out.update(extra)
    return out


def csv_list(items, description, name):
    """A comma-separated list in one query parameter (`channel=1,2`)."""
    return q(name, {"type": "array", "items": items}, description, style="form", explode=False)


REPORT_PARAMETERS = {
    "client": q("client", {"type": "string", "pattern": "^(all|[0-9]{1,18})$"},
                "An operator id, or `all` (superusers only). Staff always get their own operator; naming "
                "another is a 403. Several operators make days UTC days."),
    "date_from": q("date_from", DATE, "First local day (YYYY-MM-DD, the operator's zone), inclusive. "
                   "Default: 6 days before date_to."),
    "date_to": q("date_to", DATE, "Last local day, inclusive. Default: today."),
    "from": q("from", {"type": "string", "format": "date-time"},
              "An ISO 8601 instant instead of date_from (goes with `to`)."),
    "to": q("to", {"type": "string", "format": "date-time"}, "End instant, exclusive (goes with `from`)."),
    "channel": csv_list(ID, "Channel ids, comma-separated.", "channel"),
    "programme": csv_list(ID, "EPG programme ids, comma-separated.", "programme"),
    "category": csv_list(ID, "Channel category ids: their channels.", "category"),
    "device_type": csv_list({"type": "string"}, "Device type system names (`mag`, `ios` …).", "device_type"),
    "tariff": csv_list(ID, "Tariff ids (the account's tariffs at viewing time).", "tariff"),
    "country": csv_list({"type": "string"}, "ISO country codes (or `unknown`).", "country"),
    "source": csv_list({"type": "string", "enum": ["device", "media_server"]}, "Who reported the sessions.",
                       "source"),
    "kind": csv_list({"type": "string", "enum": ["live", "archive"]}, "Live or archive viewing.", "kind"),
    "protocol": csv_list({"type": "string"}, "`push`, `batch`, or a media server's (`hls`, `dash` …).",
                         "protocol"),
    "account": csv_list({"type": "string", "maxLength": 128}, "Account ids (the host's, any form).", "account"),
    "server": csv_list(ID, "Media server ids.", "server"),
    "brand": csv_list({"type": "string"}, "Device brands, as the device report shows them.", "brand"),
    "model": csv_list({"type": "string"}, "Device models, as the device report shows them.", "model"),
    "ip": q("ip", {"type": "string"}, "The viewer's exact IP address."),
    "user_agent": q("user_agent", {"type": "string"}, "The exact User-Agent."),
    "inter_server": q("inter_server", {"type": "boolean"},
                      "Only other media servers' pulls (inter-server traffic), which every report otherwise "
                      "leaves out."),
    "unique": q("unique", {"type": "boolean"}, "Count unique sessions instead of raw ones."),
    "sort": q("sort", {"type": "string", "enum": ["-start", "start", "-end", "end", "-duration", "duration"],
                       "default": "-start"}, "Order of the raw list; `-` descending."),
    "cursor": q("cursor", {"type": "string"}, "The `next` of the previous page."),
    "limit": q("limit", {"type": "integer", "minimum": 1},
               "Rows per page: default VIEWSTATS_PAGE_SIZE (100), at most VIEWSTATS_PAGE_SIZE_MAX (1000); "
               "more is cut to it."),
    "step": q("step", {"type": "string", "enum": ["hour", "day"]},
              "Bucket size: default hour up to 3 days, else day; hour covers at most 31 days."),
}
REPORT_PARAMETERS["daily.server"] = csv_list(
    {"type": "string"}, "Servers: `all`, `devices` or media server ids, comma-separated.", "server")


def report_parameters(name):
    out = []
    for p in REPORT_PARAMS[name]:
        key = "daily.server" if (name == "daily" and p == "server") else p
        out.append(ref(_param_component(key), "parameters"))
    return out


def _param_component(key):
    return "report." + key.replace(".", "_")


# ------------------------------------------------------------------ responses

def json_content(schema):
    return {"application/json": {"schema": schema}}


def ok_json(schema, description="OK"):
    return {"description": description, "content": json_content(schema)}


def error(description, schema_name="Error"):
    return {"description": description, "content": json_content(ref(schema_name))}


UNAVAILABLE = {"description": "MongoDB cannot be reached (nothing was lost; retry later).",
               "headers": {"Retry-After": ref("RetryAfter", "headers"),
                           "X-Request-ID": ref("RequestId", "headers")},
               "content": json_content(ref("Unavailable"))}
NO_ROUTE = {"description": "A path segment that no route matches (e.g. with a `/` in it); Django's 404 page.",
            "content": {"text/html": {"schema": {"type": "string"}}}}


def scoped_errors(bad_request="A parameter is invalid or is not a filter of this report; the message "
                              "names it."):
    return {
        "400": error(bad_request),
        "401": error("Not logged in and no valid `Authorization: Token <key>`."),
        "403": error("The user may not read the operator asked for (staff of another operator, an "
                     "unknown operator, `all` for non-superusers, or not staff)."),
        "503": {"$ref": "#/components/responses/Unavailable"},
    }


READER = [{"sessionCookie": []}, {"apiToken": []}]


# ------------------------------------------------------------------ paths

def collection_paths():
    push = {
        "get": {
            "operationId": "statPush", "tags": ["Collection"],
            "summary": "Smarty-compatible heartbeat of a playing channel",
            "description": (
                "A device pushes when a channel starts playing and then every VIEWSTATS_PUSH_HEARTBEAT "
                "seconds (60) while it plays. Pushes with the same `channel_session` from the same login "
                "form one session whose end moves to each push's time; another `channel_session` closes "
                "the previous session at this push's time; after VIEWSTATS_PUSH_SESSION_TIMEOUT (180 s) "
                "of silence the same `channel_session` opens a new segment. Retries never count twice.\n\n"
                "The answer is always HTTP 200 with Smarty's `error` code (see PushAnswer); `format=xml` "
                "answers the same in XML. Collection must be enabled for the device type (*Enable "
                "statistical data collection*), else error 3."),
            "security": [{"authkey": []}],
            "parameters": [
                q("client_id", {"type": "string", "pattern": "^[0-9]{1,18}$"},
                  "The operator id; must match the authkey's.", required=True),
                q("channel_id", ID, "The channel playing now (a channel of the authkey's operator).",
                  required=True),
                q("channel_session", INT64, "Number identifying this viewing; must change on every "
                                            "channel switch (any 64-bit integer).", required=True),
                q("program_id", ID, "Programme playing (default: the one on air on the channel)."),
                q("timeshift_offset", {"type": "integer", "minimum": 0, "maximum": 168},
                  "Hours behind live (default 0; at most VIEWSTATS_MAX_TIMESHIFT_HOURS, 168)."),
                q("type", {"type": "string", "enum": ["live", "pvr", "archive"], "default": "live"},
                  "`live`, or `pvr` (archive)."),
                q("previous_channel_id", ID, "Kept on the session."),
                q("device", {"type": "string"}, "Device type system name; must match the login's."),
                q("format", {"type": "string", "enum": ["json", "xml"], "default": "json"},
                  "`xml` for an XML answer."),
            ],
            "responses": {"200": {
                "description": "Smarty's answer (the HTTP status is 200 whatever the `error`).",
                "content": {"application/json": {"schema": ref("PushAnswer"),
                                                 "example": {"error": 0, "error_message": ""}},
                            "application/xml": {"schema": {"type": "string"},
                                                "example": '<?xml version="1.0" encoding="utf-8"?>\n'
                                                           "<response><error>0</error><error_message>"
                                                           "</error_message></response>"}}}},
        }}
    batch = {
        "post": {
            "operationId": "statBatch", "tags": ["Collection"],
            "summary": "Finished viewing intervals, for apps that buffer offline",
            "description": (
                "Items are rejected when `end` is more than VIEWSTATS_MAX_CLOCK_SKEW_SECONDS (300) ahead of "
                "the server, `start` is older than VIEWSTATS_MAX_EVENT_AGE_DAYS (30), a session is longer "
                "than VIEWSTATS_MAX_SESSION_HOURS (24), or the account's daily record limit is reached. "
                "Resending a batch is safe: ids already stored come back in `duplicates`."),
            "security": [{"deviceBearer": []}, {"authkey": []}],
            "parameters": [q("client_id", {"type": "string", "pattern": "^[0-9]{1,18}$"},
                             "Optional; must equal the authenticated operator.")],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": array(ref("BatchItem"), maxItems=2000,
                                description="At most VIEWSTATS_BATCH_MAX_ITEMS (2000) items and "
                                            "VIEWSTATS_BATCH_MAX_BYTES (1 MB)."),
                "example": [{"id": "5b0e", "channel_id": 12, "start": "2026-11-20T18:00:00Z",
                             "end": "2026-11-20T18:42:10Z"},
                            {"id": "5b0f", "channel_id": 12, "type": "archive", "program_id": 3456,
                             "start": 1763661600, "end": 1763663400, "archive_offset": 600}]}}},
            "responses": {
                "200": ok_json(ref("BatchResult"), "Per-item results."),
                "400": error("Malformed JSON, or not an array.", "BatchError"),
                "401": error("No or unknown authkey.", "BatchError"),
                "403": error("Collection disabled for the device type (the message says what to tick), or "
                             "a client_id that does not match.", "BatchError"),
                "413": error("Over VIEWSTATS_BATCH_MAX_BYTES or VIEWSTATS_BATCH_MAX_ITEMS: split it.",
                             "BatchError"),
                "415": error("Not sent as application/json.", "BatchError"),
                "503": error("The statistics database is unreachable (nothing was stored twice: resend the "
                             "same batch).", "BatchError"),
            },
        }}
    media = {
        "post": {
            "operationId": "mediaServerEvents", "tags": ["Collection"],
            "summary": "Media-server (Flussonic event sink) play events",
            "description": (
                "A JSON array of events (one object is taken as an array of one). Each event is kept once "
                "(under `<server>:<event_id>`, or `<server>:<id>/<event>/<time>`), so the server's resend "
                "buffer never counts twice; every session an accepted event touches is brought up to "
                "date. A stream maps to a channel by name (or `ch<N>`/`<N>`); `token` is tried as a device "
                "authkey, then `user_id` as an abonement or account id. A body over "
                "min(10 × VIEWSTATS_BATCH_MAX_BYTES, DATA_UPLOAD_MAX_MEMORY_SIZE) is a 413."),
            "security": [{"mediaServerBearer": []}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"oneOf": [array(ref("MediaServerEvent")), ref("MediaServerEvent")]},
                "example": [{"event": "play_started", "id": "s1", "event_id": "e1", "utc_ms": 1763661600000,
                             "media": "ch12", "ip": "203.0.113.7", "user_agent": "VLC/3.0.18",
                             "token": "authkey", "proto": "hls", "bytes": 0,
                             "opened_at": 1763661599000}]}}},
            "responses": {
                "200": ok_json(ref("MediaServerResult"), "What was accepted, duplicated, rejected, ignored."),
                "400": error("Malformed JSON, or neither an array nor an object."),
                "401": error("No or unknown media-server token."),
                "413": error("Body too large: lower the sink's max_size."),
                "503": error("The statistics database is unreachable; resend later."),
            },
        }}
    return {"/viewstats/api/stat/push": push, "/viewstats/api/stat/batch": batch,
            "/viewstats/api/mediaserver/events": media}


REPORT_SCHEMAS = {**{n: f"{n.capitalize()}Report" for n in BREAKDOWNS}, "unique": "UniqueReport",
                  "sessions": "SessionsReport", "daily": "DailyReport", "timeline": "TimelineReport"}
REPORT_SUMMARIES = {
    "channel": "Viewers, sessions, watch time and traffic per channel",
    "programme": "Per EPG programme, live and from the archive",
    "device": "Per device type, class, brand, model and app",
    "country": "Per country of the viewer's IP address",
    "protocol": "Per source (devices, media servers) and protocol",
    "unique": "Unique sessions per channel (reconnections glued)",
    "sessions": "The raw session list, cursor-paginated",
    "daily": "Daily statistics per local day and server",
    "timeline": "Sessions, viewers, watch time and traffic per local hour or day",
}


def report_paths():
    out = {}
    for name in REPORT_NAMES:
        params = report_parameters(name)
        described = (f"{REPORT_SUMMARIES[name]}. Parameters this report does not take are ignored, but "
                     f"a report filter it cannot apply (say `channel` on `daily`) is a 400 naming it. "
                     f"Every figure is defined in the README's Definitions.")
        op_id = "report" + name.capitalize()
        out[f"/viewstats/api/reports/{name}"] = {"get": {
            "operationId": op_id, "tags": ["Reports"], "summary": REPORT_SUMMARIES[name],
            "description": described, "security": READER, "parameters": params,
            "responses": {"200": ok_json(ref(REPORT_SCHEMAS[name])), **scoped_errors()}}}
        out[f"/viewstats/api/reports/{name}.csv"] = {"get": {
            "operationId": op_id + "Csv", "tags": ["Reports"], "summary": REPORT_SUMMARIES[name] + " (CSV)",
            "description": described + " Streamed; a cell a spreadsheet would run as a formula starts "
                                       "with `'`. If the database goes away mid-file, the file ends with a "
                                       "line `# INCOMPLETE: …` and the response is aborted.",
            "security": READER, "parameters": params,
            "responses": {"200": {"description": "CSV with a header row.",
                                  "content": {"text/csv": {"schema": {"type": "string"}}}},
                          **scoped_errors()}}}
    return out


def counter_paths():
    client = {"name": "client", "in": "path", "required": True,
              "description": "An operator id, or `all` (superusers).",
              "schema": {"type": "string", "pattern": "^(all|[0-9]{1,18})$"}}
    metric = {"name": "metric", "in": "path", "required": True, "description": "What to count.",
              "schema": {"type": "string", "enum": ["sessions", "viewers", "watch_time", "traffic"]}}
    year = {"name": "year", "in": "path", "required": True, "description": "Four digits.",
            "schema": {"type": "integer", "minimum": 1970, "maximum": 9998}}
    month = {"name": "month", "in": "path", "required": True,
             "schema": {"type": "integer", "minimum": 1, "maximum": 12}}
    day = {"name": "day", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1,
                                                                     "maximum": 31}}
    hour = {"name": "hour", "in": "path", "required": True, "description": "The local clock hour; one the "
            "clocks skip that day is a 400, a repeated one answers both passes.",
            "schema": {"type": "integer", "minimum": 0, "maximum": 23}}
    source = q("source", {"type": "string", "enum": ["device", "media_server"]}, "Only this source.")
    out = {}
    template = "/viewstats/api/stats/{client}/{metric}/{year}"
    segments = "a year's months"
    for extra, params, seg in ((None, [], "a year's months"), ("month", [month], "a month's days"),
                               ("day", [month, day], "a day's clock hours"),
                               ("hour", [month, day, hour], "an hour's minutes")):
        if extra:
            template += "/{" + extra + "}"
        segments = seg
        out[template] = {"get": {
            "operationId": "counters" + ("" if extra is None else extra.capitalize()),
            "tags": ["Counters"], "summary": f"Counters of {segments}",
            "description": ("Every segment of the period, zero included, in the operator's zone (UTC "
                            "for `all`). A trailing `/` is accepted."),
            "security": READER, "parameters": [client, metric, year, *params, source],
            "responses": {"200": ok_json(ref("Counters")),
                          **scoped_errors("A bad client segment, metric, source or period (a day that does "
                                          "not exist, an hour the clocks skip)."),
                          "404": NO_ROUTE}}}
    return out


def insight_paths():
    ratings_params = [
        ref("report.client", "parameters"), ref("report.date_from", "parameters"),
        ref("report.date_to", "parameters"),
        q("band", {"type": "string"}, "Daily time band in the operator's local time: `HH:MM-HH:MM` or "
                                      "`19-23`; `22:00-02:00` crosses midnight; none = the whole day.",
          example="19:00-23:00"),
        q("threshold", {"type": "string"}, "Reach threshold: minutes (`1`, `0.5`) or seconds (`30s`); "
                                           "default 1 minute.", example="1"),
        q("universe", {"type": "string", "enum": ["active"]}, "`active` (the default): accounts active in "
          "the period. `tariff` is refused: the host contract has no channel-to-tariff mapping."),
        q("by", {"type": "string", "enum": ["channel", "programme"], "default": "channel"}, "Rows per channel "
          "or per programme."),
        q("channel", ID, "Adds this channel's rating by local hour of day (`hourly`)."),
        ref("report.device_type", "parameters"), ref("report.tariff", "parameters"),
        ref("report.country", "parameters"), ref("report.kind", "parameters"),
    ]
    assert {p.get("name") or p["$ref"].split(".")[-1] for p in ratings_params} == set(ratings_module.PARAMS)
    catchup_params = [ref("report.client", "parameters"), ref("report.date_from", "parameters"),
                      ref("report.date_to", "parameters"),
                      csv_list(ID, "Only these channels (ids, comma-separated).", "channel")]
    sharing_params = [ref("report.client", "parameters"), ref("report.date_from", "parameters"),
                      ref("report.date_to", "parameters"),
                      q("min_score", {"type": "integer", "minimum": 0, "maximum": 100},
                        "Leave out accounts scoring under this (0-100)."),
                      q("account", {"type": "string", "maxLength": 128},
                        "One account's evidence instead of the list.")]
    ratings_text = ("TV ratings per channel or programme over whole local days and a daily time band: "
                    "average audience, rating, share, reach, reach %, time per viewer, watch time and "
                    "viewers, with the universe used (see the README's Definitions). Per operator: a "
                    "superuser names one with `client`.")
    catchup_text = ("How old the programmes watched from the archive were, overall and per channel, how "
                    "much archive viewing a shorter archive would lose, and how far behind live "
                    "timeshift viewing was. Per operator.")
    csv = {"200": {"description": "CSV with a header row.",
                   "content": {"text/csv": {"schema": {"type": "string"}}}}}
    return {
        "/viewstats/api/ratings": {"get": {
            "operationId": "ratings", "tags": ["Insights"], "summary": "Audience ratings",
            "description": ratings_text, "security": READER, "parameters": ratings_params,
            "responses": {"200": ok_json(ref("RatingsReport")), **scoped_errors()}}},
        "/viewstats/api/ratings.csv": {"get": {
            "operationId": "ratingsCsv", "tags": ["Insights"], "summary": "Audience ratings (CSV)",
            "description": ratings_text + " The rows, then an `all channels` total row.",
            "security": READER, "parameters": ratings_params,
            "responses": {**csv, **scoped_errors()}}},
        "/viewstats/api/catchup": {"get": {
            "operationId": "catchup", "tags": ["Insights"], "summary": "Catch-up (archive) depth",
            "description": catchup_text, "security": READER, "parameters": catchup_params,
            "responses": {"200": ok_json(ref("CatchupReport")), **scoped_errors()}}},
        "/viewstats/api/catchup.csv": {"get": {
            "operationId": "catchupCsv", "tags": ["Insights"], "summary": "Catch-up depth (CSV)",
            "description": catchup_text + " One row per scope (all channels or a channel), section "
                                          "(`archive`, `archive_before_air`, `archive_age`, "
                                          "`archive_not_in_epg`, `archive_lost`, `timeshift`) and bucket.",
            "security": READER, "parameters": catchup_params,
            "responses": {**csv, **scoped_errors()}}},
        "/viewstats/api/sharing.csv": {"get": {
            "operationId": "sharingCsv", "tags": ["Insights"], "summary": "Account sharing (CSV)",
            "description": ("The flagged accounts, a row each: account_id, login, score, verdict, reasons "
                            "(in words, separated by ` | `) and device_types. `account` is not taken."),
            "security": READER, "parameters": sharing_params[:-1],
            "responses": {**csv, **scoped_errors()}}},
        "/viewstats/api/sharing": {"get": {
            "operationId": "sharing", "tags": ["Insights"], "summary": "Account sharing and restreaming",
            "description": ("Accounts whose viewing suggests a shared login (more streams at once than "
                            "devices, several places at once, impossible travel) or a restream, each with "
                            "a score (0-100) and the evidence. Per operator."),
            "security": READER, "parameters": sharing_params,
            "responses": {"200": ok_json(ref("SharingReport")), **scoped_errors()}}},
    }


def monitoring_paths():
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {"/viewstats/metrics": {"get": {
        "operationId": "metrics", "tags": ["Monitoring"], "summary": "Prometheus metrics",
        "description": ("The Prometheus text exposition (series listed in the README's Monitoring). Off "
                        "(404) until VIEWSTATS_METRICS_TOKEN or VIEWSTATS_METRICS_ALLOWED_IPS is set; with "
                        "both, both must match."),
        "security": [{"metricsBearer": []}],
        "responses": {
            "200": {"description": "Text exposition format 0.0.4.",
                    "content": {"text/plain": {"schema": {"type": "string"},
                                               "example": "viewstats_store_up 1.0\n"}}},
            "401": {"description": "Missing or wrong bearer token.", "content": text,
                    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}},
            "403": {"description": "The caller's address is not in VIEWSTATS_METRICS_ALLOWED_IPS.",
                    "content": text},
            "404": {"description": "Metrics are off (neither a token nor allowed addresses configured).",
                    "content": {"text/html": {"schema": {"type": "string"}}}},
        }}}}


def dynamics_paths():
    return {"/smartystats/api/dynamics": {"get": {
        "operationId": "dynamics", "tags": ["Dynamics"], "summary": "Dynamics of subscribers",
        "description": ("Every widget's data of the admin's *Dynamics of subscribers* tab as dense, "
                        "labelled series, read from the smartystats caches. Staff see their own operator; "
                        "superusers choose one with `client_id` (default: the first)."),
        "security": [{"basicAuth": []}, {"sessionCookie": []}],
        "parameters": [
            q("client_id", {"type": "integer", "minimum": 0}, "The operator (superusers)."),
            q("from", DATE, "First local day (default: the cached range's)."),
            q("to", DATE, "Last local day (default: the cached range's)."),
            q("days", {"type": "integer", "minimum": 1, "maximum": 3660},
              "Instead of `from`: this many days up to `to` (at most SMARTYSTATS_MAX_RANGE_DAYS)."),
            q("frequency", {"type": "string", "enum": ["day", "hour"], "default": "day"},
              "Buckets; `hour` covers at most SMARTYSTATS_MAX_HOURLY_RANGE_DAYS days."),
        ],
        "responses": {
            "200": ok_json(ref("Dynamics")),
            "400": error("A parameter is invalid (the message names it)."),
            "401": error("No session and no valid HTTP Basic credentials."),
            "403": error("Not staff, staff of another operator, or an unknown operator."),
            "503": {"$ref": "#/components/responses/Unavailable"},
        }}}}


def host_paths():
    authkey_errors = {
        "403": error("`authkey` is missing or unknown (`error` 403).", "AppError"),
    }
    creds = [q("client_id", {"type": "string", "pattern": "^[0-9]{1,18}$"}, "The operator id.", required=True)]
    return {
        "/tvmiddleware/api/login/": {"get": {
            "operationId": "hostLogin", "tags": ["Reference host"], "summary": "Device login: an authkey",
            "description": ("The reference host's login: abonement and password of an account on a device "
                            "of a device type the operator added. Answers `{\"error\": 0, \"authkey\": …}` "
                            "(one authkey per device: a new login replaces the device's previous key); "
                            "`error` 1 wrong abonement or password, 2 device type not added for this "
                            "operator. Your middleware has its own login."),
            "security": [{"hostApiKey": []}],
            "parameters": creds + [
                q("abonement", {"type": "string"}, "The account's login.", required=True),
                q("password", {"type": "string"}, "The account's password.", required=True),
                q("device", {"type": "string"}, "Device type system name (`mag`, `ios` …).", required=True),
                q("device_uid", {"type": "string"}, "The device's own id (MAC, serial)."),
                q("model", {"type": "string"}, "The device's model."),
            ],
            "responses": {
                "200": ok_json({"allOf": [ref("HostAnswer"), obj({
                    "authkey": {"type": "string"}, "account_id": {"type": "integer"},
                    "customer_id": {"type": ["integer", "null"]}, "active": {"type": "boolean"}})]},
                    "`error` 0 with the authkey, else 1 or 2 with `error_message`."),
                "403": error("Bad client_id or api_key (`error` 403).", "AppError"),
            }}},
        "/tvmiddleware/api/portal/settings/list/": {"get": {
            "operationId": "hostPortalSettings", "tags": ["Reference host"],
            "summary": "Per device type settings, with the statistics switch",
            "description": ("The reference host's settings answer, with what the statistics suite tells "
                            "devices merged in (`viewstats.views.apps.statistics_settings`): "
                            "`reports_enabled` (0/1: send statistics?) and `settings_refresh_interval` "
                            "(60 s). `Cache-Control: max-age=60`. `error` 1 no device, 2 device type not "
                            "added."),
            "security": [{"hostApiKey": []}],
            "parameters": creds + [q("device", {"type": "string"}, "Device type system name.", required=True)],
            "responses": {
                "200": ok_json({"allOf": [ref("HostAnswer"), obj({
                    "standby_timer": {"type": ["integer", "null"]},
                    "reports_enabled": {"enum": [0, 1]},
                    "settings_refresh_interval": {"type": "integer"}})]}),
                "403": error("Bad client_id or api_key (`error` 403).", "AppError"),
            }}},
        "/tvmiddleware/api/channel/sort/list/": {"get": {
            "operationId": "channelSortList", "tags": ["Apps"], "summary": "The operator's channel sortings",
            "description": ("Manual (`type` 0) and generated (`type` 1, by the popularity commands) "
                            "sortings. Served by `viewstats.views.apps.channel_sort_list`, which a "
                            "middleware mounts under its own API."),
            "security": [{"authkey": []}],
            "responses": {"200": ok_json(ref("ChannelSortList")), **authkey_errors}}},
        "/tvmiddleware/api/channel/list/": {"get": {
            "operationId": "channelList", "tags": ["Apps"], "summary": "Enabled channels, optionally sorted",
            "description": ("With `channel_sort_id`, the sorting's channels in its order, then channels "
                            "added since it was computed in the standard order; without it, the standard "
                            "order. `channel_sort` is each channel's 1-based place."),
            "security": [{"authkey": []}],
            "parameters": [q("channel_sort_id", {"type": "integer", "format": "int64", "minimum": 1,
                                                 "maximum": INT64_MAX}, "A sorting of this operator.")],
            "responses": {"200": ok_json(ref("ChannelList")),
                          "400": error("`channel_sort_id` is not a whole number ≥ 1 (`error` 1).", "AppError"),
                          **authkey_errors,
                          "404": error("No such sorting of this operator (`error` 404).", "AppError")}}},
        "/tvmiddleware/api/selection/list/": {"get": {
            "operationId": "selectionList", "tags": ["Apps"], "summary": "Visible selections",
            "security": [{"authkey": []}],
            "parameters": [
                q("type", {"type": "integer", "enum": [0, 1]}, "0 manual, 1 generated."),
                q("content_type", {"type": "integer", "enum": [0, 1]}, "0 channels, 1 programmes."),
            ],
            "responses": {"200": ok_json(ref("SelectionList")),
                          "400": error("`type` or `content_type` is not 0 or 1 (`error` 1).", "AppError"),
                          **authkey_errors}}},
        "/tvmiddleware/api/selection/detail/": {"get": {
            "operationId": "selectionDetail", "tags": ["Apps"], "summary": "A selection's items, paged",
            "description": "Programme times are Unix seconds; `next_cursor` is null on the last page.",
            "security": [{"authkey": []}],
            "parameters": [
                q("selection_id", {"type": "integer", "format": "int64", "minimum": 1, "maximum": INT64_MAX},
                  "A selection of this operator.", required=True),
                q("limit", {"type": "integer", "minimum": 1, "default": 200},
                  "Items per page (at most 1000; more is cut to it)."),
                q("cursor", {"type": "string", "pattern": "^[0-9]{1,18}$"},
                  "The `next_cursor` of the previous page."),
            ],
            "responses": {"200": ok_json(ref("SelectionDetail")),
                          "400": error("A missing or invalid parameter (`error` 1).", "AppError"),
                          **authkey_errors,
                          "404": error("No such selection of this operator (`error` 404).", "AppError")}}},
    }


def documentation_paths():
    return {
        "/viewstats/api/openapi.json": {"get": {
            "operationId": "openapiDocument", "tags": ["Documentation"], "summary": "This document",
            "description": "Public: it describes the APIs, not their data.", "security": [],
            "responses": {"200": {"description": "The OpenAPI 3.1 document.", "content": json_content(
                {"type": "object", "required": ["openapi", "paths"]})}}}},
        "/viewstats/api/docs/": {"get": {
            "operationId": "apiDocsPage", "tags": ["Documentation"],
            "summary": "This document, readable (Redoc, served from the app's static files)",
            "security": [],
            "responses": {"200": {"description": "An HTML page.",
                                  "content": {"text/html": {"schema": {"type": "string"}}}}}}},
    }


TAGS = [
    {"name": "Collection", "description": "What devices, apps and media servers send."},
    {"name": "Reports", "description": "Viewing reports as JSON and CSV (the admin's *Viewing statistics*)."},
    {"name": "Counters", "description": "A period's segments: months, days, clock hours, minutes."},
    {"name": "Insights", "description": "Ratings, catch-up depth and account sharing."},
    {"name": "Dynamics", "description": "Subscriber dynamics (smartystats)."},
    {"name": "Monitoring", "description": "Prometheus."},
    {"name": "Apps", "description": "Generated sortings and selections as apps read them (mounted by the "
                                    "middleware; here the reference host's paths)."},
    {"name": "Reference host", "description": "The reference host's own device API (tvmiddleware)."},
    {"name": "Documentation", "description": "This document."},
]

DESCRIPTION = """\
Every HTTP API of the IPTV viewing-statistics suite: collection (Smarty's `stat/push`, the batch API, \
the media-server event sink), reports, counters, ratings, catch-up depth, account sharing, the \
subscriber dynamics, Prometheus metrics, and the app-facing channel sortings and selections with the \
reference host's login.

**Who calls what, and how they authenticate**

| caller | scheme | operations |
|---|---|---|
| set-top boxes, TVs, apps | `authkey` query parameter (batch: also `Authorization: Bearer <authkey>`) | push, batch, sortings and selections |
| media servers | `Authorization: Bearer <media server token>` | media-server events |
| staff in the admin | the admin session cookie | reports, counters, insights, dynamics |
| scripts | `Authorization: Token <key>` (reports, counters, insights) or HTTP Basic (dynamics) | the same |
| Prometheus | `Authorization: Bearer <metrics token>` | metrics |

Staff users see only their own operator; superusers see all and may name one. Times are ISO 8601; days \
and hours are the operator's local ones. When MongoDB is unreachable the read APIs answer 503 with \
`Retry-After`; push answers error 2 and the batch and media-server APIs 503 (resend: resends are \
idempotent).

Paths are those of the suite's documented URLconf (`/viewstats/`, `/smartystats/`) and of the reference \
host (`/tvmiddleware/`).
"""


# Operations whose views viewstats.metrics.api does not wrap: their answers carry no X-Request-ID.
WITHOUT_REQUEST_ID = {"metrics", "hostLogin", "hostPortalSettings", "channelSortList", "channelList",
                      "selectionList", "selectionDetail", "openapiDocument", "apiDocsPage"}


def _request_ids(paths):
    """Every answer of an API view wrapped by metrics.api carries X-Request-ID (Django's own 404 does not)."""
    for item in paths.values():
        for op in item.values():
            if op["operationId"] in WITHOUT_REQUEST_ID:
                continue
            for code, response in op["responses"].items():
                if code != "404" and "$ref" not in response:
                    response.setdefault("headers", {})["X-Request-ID"] = ref("RequestId", "headers")


def build():
    """The OpenAPI document as a dict (deterministic: the same code gives the same JSON)."""
    paths = {}
    for part in (collection_paths(), report_paths(), counter_paths(), insight_paths(), dynamics_paths(),
                 monitoring_paths(), host_paths(), documentation_paths()):
        paths.update(copy.deepcopy(part))
    _request_ids(paths)
    parameters = {_param_component(k): v for k, v in REPORT_PARAMETERS.items()}
    used = set(report_filters.FILTER_PARAMS) | {p for names in REPORT_PARAMS.values() for p in names}
    assert used <= set(REPORT_PARAMETERS), used - set(REPORT_PARAMETERS)
    return copy.deepcopy({
        "openapi": OPENAPI_VERSION,
        "info": {"title": "IPTV viewing statistics (viewstats, smartystats) API", "version": DOCUMENT_VERSION,
                 "description": DESCRIPTION, "license": {"name": "BSD-3-Clause",
                                                         "identifier": "BSD-3-Clause"}},
        "servers": [{"url": "/", "description": "the deployment serving this document"}],
        "tags": TAGS,
        "paths": paths,
        "components": {"securitySchemes": security_schemes(), "schemas": schemas(), "parameters": parameters,
                       "headers": headers(), "responses": {"Unavailable": UNAVAILABLE}},
    })


def dumps(document=None):
    return json.dumps(document if document is not None else build(), indent=1, ensure_ascii=False) + "\n"


def shipped():
    """The document as the package ships it."""
    return json.loads(SHIPPED.read_text(encoding="utf-8"))
