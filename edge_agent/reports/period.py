"""Report periods and instants: everything becomes a timezone-aware UTC datetime.

A period is [start, end): a transaction stamped exactly at `end` belongs to the next period. Epoch
seconds (int or float) and datetimes are accepted; a naive datetime or date is taken as UTC."""
import datetime
import re

UTC = datetime.timezone.utc


def instant(value):
    """Epoch seconds, a datetime, a date (its midnight) or ISO text -> aware UTC datetime."""
    if isinstance(value, bool):
        raise TypeError("a time, not %r" % (value,))
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return parse_time(value)
    raise TypeError("a time must be epoch seconds, a datetime or ISO text, not %r" % (value,))


def parse_time(text):
    """ISO 8601 text (a date, or a date and time with or without an offset; naive is UTC)."""
    try:
        parsed = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("%r is not a date or time like 2026-10-01 or 2026-10-01T08:00" % text) from None
    return instant(parsed)


def month(text):
    """'2026-10' -> (start, end) of that calendar month in UTC."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError("%r is not a month like 2026-10" % text)
    year, mon = int(m.group(1)), int(m.group(2))
    start = datetime.datetime(year, mon, 1, tzinfo=UTC)
    end = datetime.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return start, end


def iso(moment):
    """The text a CSV carries for an instant: ISO 8601 UTC with seconds."""
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment is not None else ""


def hours_between(a, b):
    """Hours from a to b, never negative (a wall clock stepped back must not make time run backwards)."""
    return max(0.0, (b - a).total_seconds() / 3600.0)
