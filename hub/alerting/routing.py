"""Who hears of what (alert_rules, 0007_alert_routing.sql): a rule takes a tenant's alerts of a site (or any),
a supplier (or any), a kind (or any) at or above a severity, and names who is told at each level of its
escalation: level 0 when the alert is known (or after_minutes later), level 1 after more minutes still open and
unacknowledged, and so on. A recipient is an e-mail address or "user:<web user id>" (the e-mail on record for
that web user of the same tenant). Every refusal is a RuleError with words, raised before anything is written.

The supplier of an alert is the supplier of the SKU at its location in the cabinet's newest desired catalog
(hub/desired.py); an alert without a location, or at a cabinet the hub does not run, has none and matches only
rules for any supplier."""
import json
import re

from hub import registry
from hub.alerting import fleet

EMAIL = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+$")
USER_PREFIX = "user:"
MAX_LEVELS = 10


class RuleError(ValueError):
    pass


def check_recipient(conn, tenant, who):
    who = who.strip()
    if who.startswith(USER_PREFIX):
        user = who[len(USER_PREFIX):]
        found = _web_user(conn, tenant, user)
        if found is None:
            raise RuleError("%s: tenant %s has no web user %r (locker-hub user list)" % (who, tenant, user))
        if not found["email"]:
            raise RuleError("%s: web user %r has no e-mail address on record" % (who, user))
        return who
    if not EMAIL.match(who):
        raise RuleError("%r is not an e-mail address (name@example.com) or user:<web user id>" % who)
    return who.lower()


def _web_user(conn, tenant, user):
    if conn.execute("SELECT to_regclass('web_users') IS NOT NULL AS present").fetchone()["present"]:
        return conn.execute("SELECT email FROM web_users WHERE tenant = %s AND id = %s AND NOT disabled",
                            [tenant, user]).fetchone()
    return None


def who_list(text):
    """"a@x.example, user:ann" -> ["a@x.example", "user:ann"]."""
    return [w.strip() for w in re.split(r"[,;\s]+", text or "") if w.strip()]


def parse_step(text):
    """An escalation level as written (`--then 30:lead@x.example,boss@x.example`) -> (30, [who, ...])."""
    minutes, sep, who = (text or "").partition(":")
    if not sep or not minutes.strip().isdigit():
        raise RuleError("%r: give MINUTES:WHO, e.g. 30:lead@example.com" % text)
    return int(minutes), who_list(who)


def check_levels(conn, tenant, levels):
    """levels: [(after_minutes, [recipient, ...]), ...] -> the stored JSON list, checked."""
    if not levels:
        raise RuleError("a rule names who is told (--to)")
    if len(levels) > MAX_LEVELS:
        raise RuleError("at most %d levels of escalation" % MAX_LEVELS)
    out, before = [], -1
    for n, (after, who) in enumerate(levels):
        if not isinstance(after, int) or after < 0:
            raise RuleError("level %d: minutes must be a whole number, 0 or more" % n)
        if after <= before:
            raise RuleError("level %d comes after %d minutes, not after level %d's %d: each level waits longer"
                            % (n, after, n - 1, before))
        if not who:
            raise RuleError("level %d names nobody" % n)
        out.append({"after_minutes": after, "to": sorted({check_recipient(conn, tenant, w) for w in who})})
        before = after
    return out


def add_rule(conn, tenant, levels, site=None, supplier=None, kind=None, min_severity="warning", note=""):
    """Store a rule; returns its id."""
    with conn.transaction():
        return _add_rule(conn, tenant, levels, site, supplier, kind, min_severity, note)


def _add_rule(conn, tenant, levels, site, supplier, kind, min_severity, note):
    registry.need_tenant(conn, tenant)
    if site is not None:
        registry.check_id("site", site)
        if conn.execute("SELECT 1 FROM sites WHERE tenant = %s AND id = %s", [tenant, site]).fetchone() is None:
            raise RuleError("tenant %s has no site %s (locker-hub site list --tenant %s)" % (tenant, site, tenant))
    if kind is not None and kind not in fleet.KINDS:
        raise RuleError("kind %r is not an alert kind; the kinds are: %s" % (kind, ", ".join(fleet.KINDS)))
    if min_severity not in fleet.SEVERITIES:
        raise RuleError("severity %r is not one of %s" % (min_severity, ", ".join(fleet.SEVERITIES)))
    if supplier is not None and not supplier.strip():
        raise RuleError("--supplier names a supplier (leave it out for any)")
    stored = check_levels(conn, tenant, levels)
    return conn.execute(
        "INSERT INTO alert_rules (tenant, site, supplier, kind, min_severity, levels, note) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        [tenant, site, supplier, kind, min_severity, json.dumps(stored), note or ""]).fetchone()["id"]


def rules(conn, tenant=None):
    with conn.transaction():
        return conn.execute("SELECT * FROM alert_rules WHERE %(t)s::text IS NULL OR tenant = %(t)s ORDER BY tenant, id",
                            {"t": tenant}).fetchall()


def remove_rule(conn, rule_id, tenant=None):
    """Remove a rule (its mail already queued or sent stays on record)."""
    with conn.transaction():
        gone = conn.execute("DELETE FROM alert_rules WHERE id = %s AND (%s::text IS NULL OR tenant = %s) "
                            "RETURNING id", [rule_id, tenant, tenant]).fetchone()
    if gone is None:
        raise RuleError("no rule %s%s (locker-hub alert rule list)"
                        % (rule_id, " of tenant %s" % tenant if tenant else ""))


def describe(rule):
    """One line: what it takes and who it tells."""
    what = "%s+ %s at %s, supplier %s" % (rule["min_severity"], rule["kind"] or "any kind", rule["site"] or "any site",
                                          rule["supplier"] or "any")
    steps = []
    for n, level in enumerate(rule["levels"]):
        steps.append("L%d after %d min: %s" % (n, level["after_minutes"], ", ".join(level["to"])))
    return "%s -> %s" % (what, "; ".join(steps))


# -- matching ------------------------------------------------------------------------------------------------
def matches(rule, alert, supplier):
    """Whether the rule takes this alert (tenant, site and the alert's supplier, kind, severity)."""
    return (rule["tenant"] == alert["tenant"]
            and rule["site"] in (None, alert["site"])
            and rule["supplier"] in (None, supplier)
            and rule["kind"] in (None, alert["kind"])
            and fleet.rank(alert["severity"]) >= fleet.rank(rule["min_severity"]))


def suppliers_by_location(conn, cabinet):
    """{location id: supplier} from the cabinet's newest desired catalog ({} when the hub does not run it)."""
    row = conn.execute("SELECT body FROM desired_docs WHERE cabinet = %s AND what = 'catalog' "
                       "ORDER BY version DESC LIMIT 1", [cabinet]).fetchone()
    if row is None:
        return {}
    body = row["body"]
    supplier_of = {s.get("part_number"): s.get("supplier") for s in body.get("skus", [])}
    return {loc.get("id"): supplier_of.get(loc.get("sku")) for loc in body.get("locations", [])}


def addresses(conn, tenant, recipients):
    """The e-mail addresses for a level's recipients (a web user's from web_users; one disabled or without an
    address since the rule was made is left out)."""
    out = []
    for who in recipients:
        if who.startswith(USER_PREFIX):
            found = _web_user(conn, tenant, who[len(USER_PREFIX):])
            if found and found["email"]:
                out.append(found["email"].lower())
        else:
            out.append(who)
    return sorted(set(out))
