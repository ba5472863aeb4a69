"""When each level of a rule is due (docs/hub/alerts.md "Escalation"): for every open alert that nobody has
acknowledged (on the hub, or at the cabinet), each matching rule's level n is due once `after_minutes` have
passed since the hub first knew of the alert, on the injected clock. A due level becomes one outbox row per
(alert, recipient, level): the primary key makes a second one impossible, whichever process gets there.
Mail still waiting for an alert that was acknowledged or cleared meanwhile is cancelled, never sent."""
import datetime

from hub.alerting import fleet, routing


# Why an alert's waiting mail is not sent: an SQL expression over fleet_alerts f.
SETTLED_WHY = ("CASE WHEN f.acked_at IS NOT NULL THEN 'acknowledged by ' || f.acked_by "
               "WHEN f.site_ack_at IS NOT NULL THEN 'acknowledged at the cabinet by ' || coalesce(f.site_ack_by, '?') "
               "ELSE 'cleared (' || coalesce(f.cleared_how, '?') || ')' END")


def settled(alert):
    """Whether nothing more is sent for the alert (acknowledged anywhere, or over)."""
    return alert["acked_at"] is not None or alert["site_ack_at"] is not None or alert["cleared_at"] is not None


def cancel_settled(conn, now):
    """Cancel the unsent mail of alerts acknowledged or cleared since it was queued; returns how many."""
    with conn.transaction():
        return conn.execute(
            "UPDATE alert_mail m SET cancelled_at = %(now)s, cancelled_why = " + SETTLED_WHY + " "
            "FROM fleet_alerts f WHERE f.id = m.alert AND (m.alert, m.recipient, m.level) IN ("
            # rows another process is sending are skipped (it checks the alert itself), and locked in one order
            "SELECT w.alert, w.recipient, w.level FROM alert_mail w JOIN fleet_alerts a ON a.id = w.alert "
            "WHERE w.sent_at IS NULL AND w.cancelled_at IS NULL AND (a.acked_at IS NOT NULL OR "
            "a.site_ack_at IS NOT NULL OR a.cleared_at IS NOT NULL) "
            "ORDER BY w.alert, w.recipient, w.level FOR UPDATE OF w SKIP LOCKED)", {"now": now}).rowcount


def due_levels(rule, alert, now):
    """[(level number, level)] of the rule due for the alert at `now`."""
    age = now - alert["known_at"]
    return [(n, level) for n, level in enumerate(rule["levels"])
            if age >= datetime.timedelta(minutes=level["after_minutes"])]


def enqueue_due(conn, now):
    """Queue the mail of every level due at `now`; returns how many mails were newly queued."""
    queued = 0
    with conn.transaction():
        by_tenant = {}
        for rule in routing.rules(conn):
            by_tenant.setdefault(rule["tenant"], []).append(rule)
        suppliers = {}
        for alert in fleet.open_alerts(conn):
            rules = by_tenant.get(alert["tenant"])
            if not rules or alert["acknowledged"] or alert["known_at"] > now:
                continue
            if alert["cabinet"] not in suppliers:
                suppliers[alert["cabinet"]] = routing.suppliers_by_location(conn, alert["cabinet"])
            supplier = suppliers[alert["cabinet"]].get(alert["location"])
            for rule in rules:
                if not routing.matches(rule, alert, supplier):
                    continue
                for n, level in due_levels(rule, alert, now):
                    for address in routing.addresses(conn, rule["tenant"], level["to"]):
                        queued += conn.execute(
                            "INSERT INTO alert_mail (alert, recipient, level, rule, queued_at, next_try_at) "
                            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                            [alert["id"], address, n, rule["id"], now, now]).rowcount
    return queued
