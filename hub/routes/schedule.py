"""When a route's van leaves, and when its load is cut: from the route's weekdays, local departure time and
time zone (a route leaving at 07:00 in Berlin leaves at 07:00 in summer and in winter). Every function takes
`now` (an aware datetime) and returns aware datetimes in UTC.

Other parts of the hub call these: reorders cut "at the route's cut-off" use cutoff(); a site's routes are
routes_for_site()."""
import datetime
import zoneinfo

from hub.registry import RegistryError

UTC = datetime.timezone.utc
FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")   # ISO 1..7
WEEKDAY_NAMES = tuple(name[:3] for name in FULL_NAMES)
LOOK_AHEAD_DAYS = 8                                                       # a weekly schedule repeats within it


class ScheduleError(RegistryError):
    """A schedule that cannot be read (a refusal with words: exit 2 at the command line)."""


def parse_weekdays(text):
    """ISO weekday numbers (1 = Monday) from "mon,wed,fri" (also "mon-fri", full names, any case), sorted."""
    days = set()
    for part in (p.strip().lower() for p in str(text).split(",")):
        if not part:
            continue
        first, _, last = part.partition("-")
        a, b = _day(first.strip()), _day(last.strip()) if last else None
        if b is None:
            days.add(a)
        elif a <= b:
            days.update(range(a, b + 1))
        else:
            raise ScheduleError("weekdays %r run backwards: write mon-fri, not fri-mon" % part)
    if not days:
        raise ScheduleError("name at least one weekday: mon,tue,wed,thu,fri,sat,sun (or a range: mon-fri)")
    return sorted(days)


def _day(word):
    for number, name in enumerate(FULL_NAMES, 1):
        if word in (name, name[:3]):
            return number
    raise ScheduleError("%r is not a weekday: use mon,tue,wed,thu,fri,sat,sun (or a range: mon-fri)" % word)


def weekday_text(days):
    return ",".join(WEEKDAY_NAMES[d - 1] for d in sorted(days))


def zone(name):
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScheduleError("%r is not a time zone: give an IANA name such as Europe/Berlin or UTC" % name) from None


def _aware(now):
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return now


def departures(route, now, count=1):
    """The route's next `count` departures strictly after `now` (UTC). A departure at `now` has left."""
    _aware(now)
    tz = zone(route["timezone"])
    day = now.astimezone(tz).date()
    found = []
    for _ in range(LOOK_AHEAD_DAYS * count):
        if day.isoweekday() in route["weekdays"]:
            # A local time the zone skips (the spring-forward hour) is read as the zone reads it: an hour on.
            at = datetime.datetime.combine(day, route["depart"], tzinfo=tz).astimezone(UTC)
            if at > now:
                found.append(at)
                if len(found) == count:
                    return found
        day += datetime.timedelta(days=1)
    raise ScheduleError("route %s has no weekday to leave on" % route.get("id"))


def next_departure(route, now):
    """The route's next departure after `now`, aware (UTC). route: a routes row (weekdays, depart, timezone)."""
    return departures(route, now)[0]


def cutoff(route, now):
    """The next departure's cut-off: its van load is frozen and its orders cut this many hours before."""
    return cutoff_of(route, next_departure(route, now))


def cutoff_of(route, departure):
    return departure - datetime.timedelta(hours=route["cutoff_hours"])


def following_departure(route, departure):
    """The departure after `departure` (the end of its visit's window for reconciliation)."""
    return next_departure(route, departure)


def routes_for_site(conn, tenant, site):
    """The tenant's routes with a stop at a cabinet of `site` (routes rows, by id)."""
    return conn.execute(
        "SELECT r.* FROM routes r WHERE r.tenant = %s AND EXISTS (SELECT 1 FROM route_stops s JOIN cabinets c "
        "ON c.id = s.cabinet AND c.tenant = s.tenant WHERE s.tenant = r.tenant AND s.route = r.id AND c.site = %s) "
        "ORDER BY r.id", [tenant, site]).fetchall()
