"""A site's reorder rule: when its needs become an order.

per_task  at every run of the job (an order as soon as a refill task opens or a location falls to min)
daily     once a day, at `at` o'clock in `timezone`
cutoff    at the cut-off of each route visiting the site (routes' depart - cutoff_hours on its weekdays)

A rule is due when its moment passed since the site's last batch (last_run_at). Every function takes `now`
(an aware datetime); nothing here reads the clock."""
import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.routes import schedule

RULES = ("per_task", "daily", "cutoff")
DEFAULT = {"rule": "daily", "at": datetime.time(6, 0), "timezone": "UTC"}


class RuleError(ValueError):
    """A rule that cannot be set (unknown rule, time or time zone); the text says which."""


def zone(name):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleError("unknown time zone %r (an IANA name such as UTC or Europe/Berlin)" % name) from None


def parse_at(text):
    try:
        return datetime.time.fromisoformat(text)
    except ValueError:
        raise RuleError("time %r is not HH:MM" % text) from None


def last_daily(at, timezone, now):
    """The latest moment at or before `now` when the clock in `timezone` read `at`."""
    tz = zone(timezone)
    local = now.astimezone(tz)
    moment = datetime.datetime.combine(local.date(), at, tzinfo=tz)
    if moment > now:
        moment = datetime.datetime.combine(local.date() - datetime.timedelta(days=1), at, tzinfo=tz)
    return moment


def last_cutoff(route, now):
    """The latest cut-off of `route` at or before `now` (None when none in the last week): a departure's
    cut-off is its time minus cutoff_hours (hub/routes/schedule.py); a weekly schedule repeats within 8 days."""
    departure = schedule.next_departure(route, now + datetime.timedelta(hours=route["cutoff_hours"])
                                        - datetime.timedelta(days=schedule.LOOK_AHEAD_DAYS))
    last = None
    while schedule.cutoff_of(route, departure) <= now:
        last = schedule.cutoff_of(route, departure)
        departure = schedule.next_departure(route, departure)
    return last


def moment(conn, rule, now):
    """The moment the rule last came due at or before `now` (None: it never did: a cutoff site no route
    visits)."""
    if rule["rule"] == "per_task":
        return now
    if rule["rule"] == "daily":
        return last_daily(rule["at"], rule["timezone"], now)
    cutoffs = [c for c in (last_cutoff(r, now) for r in schedule.routes_for_site(conn, rule["tenant"], rule["site"]))
               if c]
    return max(cutoffs) if cutoffs else None


def is_due(conn, rule, now):
    found = moment(conn, rule, now)
    return found is not None and (rule["rule"] == "per_task" or found > rule["last_run_at"])


# -- the table ------------------------------------------------------------------------------------------------
def add_defaults(conn, now):
    """Give every site without a rule the default one; its first batch is at the next 06:00 UTC after now."""
    conn.execute("INSERT INTO site_order_rules (tenant, site, last_run_at) SELECT s.tenant, s.id, %s FROM sites s "
                 "ON CONFLICT DO NOTHING", [now])


def set_rule(conn, tenant, site, rule, now, by, at=None, timezone=None):
    """Set a site's rule (RuleError for an unknown one); the next batch is the next moment after now."""
    if rule not in RULES:
        raise RuleError("rule %r is not one of %s" % (rule, ", ".join(RULES)))
    at = parse_at(at) if isinstance(at, str) else (at or DEFAULT["at"])
    timezone = timezone or DEFAULT["timezone"]
    zone(timezone)
    if conn.execute("SELECT 1 FROM sites WHERE tenant = %s AND id = %s", [tenant, site]).fetchone() is None:
        raise RuleError("no site %s at tenant %s" % (site, tenant))
    conn.execute(
        "INSERT INTO site_order_rules (tenant, site, rule, at, timezone, last_run_at, set_by, set_at) "
        "VALUES (%(t)s, %(s)s, %(r)s, %(at)s, %(tz)s, %(now)s, %(by)s, %(now)s) ON CONFLICT (tenant, site) DO UPDATE "
        "SET rule = EXCLUDED.rule, at = EXCLUDED.at, timezone = EXCLUDED.timezone, set_by = EXCLUDED.set_by, "
        "set_at = EXCLUDED.set_at, last_run_at = greatest(site_order_rules.last_run_at, EXCLUDED.last_run_at)",
        {"t": tenant, "s": site, "r": rule, "at": at, "tz": timezone, "now": now, "by": by})


def rule_of(conn, tenant, site):
    found = conn.execute("SELECT * FROM site_order_rules WHERE tenant = %s AND site = %s", [tenant, site]).fetchone()
    return found or dict(DEFAULT, tenant=tenant, site=site, set_by=None, last_run_at=None)


def describe(rule):
    if rule["rule"] == "per_task":
        text = "per task (an order as soon as a refill task opens)"
    elif rule["rule"] == "daily":
        text = "daily at %s %s" % (rule["at"].strftime("%H:%M"), rule["timezone"])
    else:
        text = "at the cut-off of each route visiting the site"
    return text + ("" if rule.get("set_by") else " (the default)")
