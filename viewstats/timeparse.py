"""Timestamps as devices send them: ISO 8601 with an offset, or Unix time."""
from datetime import datetime, timezone

# Unix times above this are milliseconds (year 2286 in seconds).
_MS_THRESHOLD = 10_000_000_000


def parse_instant(value):
    """Return an aware UTC datetime, or raise ValueError saying why not.

    Accepts Unix seconds or milliseconds (told apart by magnitude) and ISO
    8601 strings with a UTC offset or `Z`. A string without an offset is
    refused: guessing its zone would shift the viewing by hours.
    """
    if isinstance(value, bool):
        raise ValueError("expected a timestamp, got a boolean")
    if isinstance(value, (int, float)):
        seconds = value / 1000 if abs(value) >= _MS_THRESHOLD else value
        try:
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"timestamp {value!r} is out of range") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 timestamp") from None
        if parsed.tzinfo is None:
            raise ValueError(f"{value!r} has no UTC offset")
        try:
            return parsed.astimezone(timezone.utc)
        except OverflowError:
            raise ValueError(f"{value!r} is out of range") from None
    raise ValueError(f"expected a timestamp, got {type(value).__name__}")
