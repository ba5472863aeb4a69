"""The fleet's alerts in one place: fleet_alerts (0007_alert_routing.sql) holds one row per cabinet alert,
written by triggers as the ingest stores the cabinets' alert events and the hub raises its own; this module adds
the cabinets offline too long, says how severe each kind is, reads the open alerts for a viewer, and keeps the
hub's acknowledgement."""
import datetime

from edge_agent.ledger.alerts import ENDS
from hub import registry

OFFLINE_KIND = "cabinet_offline"
OFFLINE_MINUTES = 15                   # hub setting alert_offline_minutes overrides it
NOTE_MAX = 200                         # as on the cabinet (docs/alerts.md)

SEVERITIES = ("info", "warning", "critical")     # lowest first
# How much each kind matters to the supplier: critical stops the cabinet or its stock (nothing to take, the
# locker closed, a door forced, the cabinet unreachable or its records broken); a warning needs someone this
# week; info is for the record. A kind not listed (a newer agent's) is a warning.
SEVERITY = {
    "stockout": "critical", "door_forced": "critical", "disk_low": "critical", "cabinet_fault": "critical",
    "cabinet_exception": "critical", "cabinet_output_capped": "critical", "chain_break": "critical",
    OFFLINE_KIND: "critical",
    "low_stock": "warning", "lane_jammed": "warning", "unknown_outcome": "warning", "door_left_open": "warning",
    "cabinet_events_lost": "warning", "tool_overdue": "warning", "tool_damaged": "warning", "tool_lost": "warning",
    "suspected_empty": "warning", "bin_weight_mismatch": "warning", "bin_over_allowed": "warning",
    "bin_unexplained_change": "warning", "bin_removed_at_refill": "warning", "bin_take_interrupted": "warning",
    "tool_scrapped": "info",
}
DEFAULT_SEVERITY = "warning"

# The kind in words (as the touchscreen's alerts screen says them, edge_agent/screen/alerts.js).
KIND_WORDS = {
    "low_stock": "Low stock", "stockout": "Out of stock", "lane_jammed": "Lane jammed",
    "unknown_outcome": "Outcome unknown: count it", "door_forced": "Door forced open",
    "door_left_open": "Door left open", "cabinet_exception": "Cabinet controller restarted",
    "cabinet_output_capped": "Output cut at its limit", "cabinet_events_lost": "Cabinet events lost",
    "cabinet_fault": "Cabinet fault", "tool_overdue": "Tool overdue", "tool_damaged": "Tool returned damaged",
    "tool_lost": "Tool lost", "tool_scrapped": "Tool scrapped", "suspected_empty": "Lane may be empty: count it",
    "bin_weight_mismatch": "Bin weight does not match", "bin_over_allowed": "More taken than allowed",
    "bin_unexplained_change": "Bin changed with nobody there", "bin_removed_at_refill": "Taken out during a refill",
    "bin_take_interrupted": "Bin take cut short", "disk_low": "Storage nearly full",
    "chain_break": "Records found broken", OFFLINE_KIND: "Cabinet offline",
}
KINDS = tuple(sorted(set(ENDS) | {OFFLINE_KIND}))


class AlertError(ValueError):
    """A refusal with words (an unknown alert, one already acknowledged, a bad note)."""


def severity_of(kind):
    return SEVERITY.get(kind, DEFAULT_SEVERITY)


def rank(severity):
    return SEVERITIES.index(severity)


def words(kind):
    return KIND_WORDS.get(kind, kind.replace("_", " ").capitalize())


def offline_minutes(conn):
    value = registry.setting(conn, "alert_offline_minutes")
    return int(value) if value else OFFLINE_MINUTES


def sync_offline(conn, now, minutes=None):
    """Raise cabinet_offline for each cabinet whose last status is offline (its last will, or a clean stop) for
    more than `minutes` at `now`, one per session; clear the open ones whose cabinet is back (a newer status).
    Returns how many were raised or cleared. Safe to run from several processes: the unique key decides."""
    with conn.transaction():
        minutes = offline_minutes(conn) if minutes is None else minutes
        raised = conn.execute(
            "INSERT INTO fleet_alerts (cabinet, source, ref, kind, detail, known_at) "
            "SELECT s.cabinet, 'offline', s.session::text, %(kind)s, "
            "'offline since ' || to_char(s.received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC (no "
            "message for more than ' || %(min)s || ' minutes)', s.received_at "
            "FROM status s JOIN cabinets c ON c.id = s.cabinet "
            "WHERE s.state = 'offline' AND s.received_at <= %(now)s - make_interval(mins => %(min)s) "
            "ORDER BY s.cabinet ON CONFLICT (cabinet, source, ref) DO NOTHING",      # one order: no deadlock
            {"kind": OFFLINE_KIND, "min": minutes, "now": now}).rowcount
        cleared = conn.execute(
            "UPDATE fleet_alerts SET cleared_at = %(now)s, cleared_how = 'condition' WHERE id IN ("
            "SELECT f.id FROM fleet_alerts f WHERE f.source = 'offline' AND f.cleared_at IS NULL AND NOT EXISTS ("
            "SELECT 1 FROM status s WHERE s.cabinet = f.cabinet AND s.state = 'offline' AND s.session::text = f.ref) "
            "ORDER BY f.id FOR NO KEY UPDATE SKIP LOCKED)", {"now": now}).rowcount
    return raised + cleared


# -- reading them -------------------------------------------------------------------------------------------
ALERT_SQL = (
    "SELECT f.*, c.tenant, c.site, s.name AS site_name, s.customer "
    "FROM fleet_alerts f JOIN cabinets c ON c.id = f.cabinet JOIN sites s ON s.tenant = c.tenant AND s.id = c.site ")


# Readers run in a transaction block of their own: on a connection without autocommit (`locker-hub jobs`'s) a
# bare read would leave a transaction open, and the job's later steps would become savepoints never committed.
def get(conn, alert_id):
    with conn.transaction():
        row = conn.execute(ALERT_SQL + "WHERE f.id = %s", [alert_id]).fetchone()
    return _decorate(row) if row else None


def open_alerts(conn, tenant=None, sites=None, now=None, sort="severity"):
    """The open alerts (not cleared) of a tenant (None: every tenant), only `sites` when given (a list of site
    ids: a customer's), most severe first then oldest first (sort="severity"), or oldest first (sort="age")."""
    with conn.transaction():
        rows = conn.execute(
            ALERT_SQL + "WHERE f.cleared_at IS NULL AND (%(t)s::text IS NULL OR c.tenant = %(t)s) "
            "AND (%(all)s OR c.site = ANY(%(sites)s)) ORDER BY f.known_at, f.id",
            {"t": tenant, "all": sites is None, "sites": list(sites or [])}).fetchall()
    found = [_decorate(r) for r in rows]
    if sort == "severity":
        found.sort(key=lambda a: -rank(a["severity"]))       # stable: oldest first within a severity
    return found


def _decorate(row):
    row = dict(row)
    row["severity"] = severity_of(row["kind"])
    row["kind_words"] = words(row["kind"])
    row["acknowledged"] = row["acked_at"] is not None or row["site_ack_at"] is not None
    return row


def age_words(since, now):
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return "%d min" % minutes
    if minutes < 48 * 60:
        return "%d h %02d min" % (minutes // 60, minutes % 60)
    return "%d days" % (minutes // 1440)


# -- the hub's acknowledgement ------------------------------------------------------------------------------
def check_note(note):
    note = (note or "").strip()
    if not 1 <= len(note) <= NOTE_MAX:
        raise AlertError("a note of 1 to %d characters says what was done (it goes on record)" % NOTE_MAX)
    return note


def acknowledge(conn, alert_id, by, note, now, tenant=None, sites=None):
    """The hub's acknowledgement: who, when and the note; no more mail for the alert (escalation.py). tenant
    and sites: the alerts the person may see (None: any); an alert outside them is "no alert", as unknown."""
    note = check_note(note)
    if not by:
        raise AlertError("say who acknowledges it")
    with conn.transaction():
        # NO KEY UPDATE: the outbox's foreign key holds KEY SHARE locks on the row, which must not block this.
        row = conn.execute(ALERT_SQL + "WHERE f.id = %s FOR NO KEY UPDATE OF f", [alert_id]).fetchone()
        if row is None or (tenant is not None and row["tenant"] != tenant) or \
                (sites is not None and row["site"] not in sites):
            raise AlertError("no alert %s" % alert_id)
        if row["cleared_at"] is not None:
            raise AlertError("alert %s is over already (%s at %s): nothing to acknowledge" % (
                alert_id, row["cleared_how"] or "cleared", _utc(row["cleared_at"])))
        if row["acked_at"] is not None:
            raise AlertError("alert %s was acknowledged by %s at %s: %s" % (
                alert_id, row["acked_by"], _utc(row["acked_at"]), row["acked_note"]))
        conn.execute("UPDATE fleet_alerts SET acked_by = %s, acked_note = %s, acked_at = %s WHERE id = %s",
                     [by, note, now, alert_id])
        return get(conn, alert_id)


def _utc(when):
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
