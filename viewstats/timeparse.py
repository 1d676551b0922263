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
    # Strings first: nearly every device sends one, and no value is both a
    # string and a number, so the order of the tests decides nothing else.
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{_short(value)} is not an ISO 8601 timestamp") from None
        if parsed.tzinfo is None:
            raise ValueError(f"{_short(value)} has no UTC offset")
        try:
            return parsed.astimezone(timezone.utc)
        except OverflowError:
            raise ValueError(f"{_short(value)} is out of range") from None
    if isinstance(value, bool):
        raise ValueError("expected a timestamp, got a boolean")
    if isinstance(value, (int, float)):
        try:
            seconds = value / 1000 if abs(value) >= _MS_THRESHOLD else value
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):  # 10**400 / 1000 overflows a float too
            raise ValueError(f"timestamp {_short(value)} is out of range") from None
    raise ValueError(f"expected a timestamp, got {type(value).__name__}")


def _short(value, limit=60):
    """repr() of a device's value, cut short: it ends up in an answer."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
