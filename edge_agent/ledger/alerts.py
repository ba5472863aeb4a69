"""Alerts in the ledger and how each kind ends (docs/alerts.md, docs/decisions/0029-alert-lifecycle.md).

An alert is raised once per location and kind while open (a partial unique index makes that a rule of the
database); while it is open, raising it again with other words updates its detail (the text stays current,
the `alert_updated` outbox event tells the cloud). It ends in one of three ways, recorded in `cleared_how`:
- 'condition': what raised it is over (stock back above min, the door closed, the lane cleared): clear_alert;
- 'count': a count of its location settled it (a `count` row: the ledger calls end_by_count);
- 'acknowledged': a supervisor acknowledged it with a note (flows/alerts.py checks who): acknowledge_alert.
ENDS says which of these end each kind; a kind raised anywhere in the code has a line here (a test checks
it, and that docs/alerts.md describes it). Once ended, the same fault again raises a new alert.

Called inside the caller's SQLite transaction (the ledger's writers hold it)."""

import sqlite3

CONDITION, COUNT, ACKNOWLEDGED = "condition", "count", "acknowledged"

# kind -> the ways it ends. An acknowledgement of a kind that does not end by one is kept (who, when, the
# note) and the alert stays open until its condition ends.
ENDS = {
    "low_stock": (CONDITION,),
    "stockout": (CONDITION,),
    "lane_jammed": (CONDITION,),                  # a lane clear that the firmware answers OK
    "unknown_outcome": (COUNT, ACKNOWLEDGED),
    "door_forced": (ACKNOWLEDGED,),
    "door_left_open": (CONDITION, ACKNOWLEDGED),  # the door closed (or a supervisor saw to it)
    "cabinet_exception": (ACKNOWLEDGED,),
    "cabinet_output_capped": (ACKNOWLEDGED,),
    "cabinet_events_lost": (ACKNOWLEDGED,),
    "cabinet_fault": (ACKNOWLEDGED,),             # a fault code this agent does not know
    "tool_overdue": (CONDITION,),
    "tool_damaged": (CONDITION,),
    "tool_lost": (CONDITION, ACKNOWLEDGED),       # the tool came back (a check-in naming the loan)
    "tool_scrapped": (ACKNOWLEDGED,),
    "suspected_empty": (COUNT,),                  # the lane is out of service until a count
    "bin_weight_mismatch": (COUNT, ACKNOWLEDGED),
    "bin_over_allowed": (COUNT, ACKNOWLEDGED),
    "bin_unexplained_change": (COUNT, ACKNOWLEDGED),
    "bin_removed_at_refill": (COUNT, ACKNOWLEDGED),
    "bin_take_interrupted": (ACKNOWLEDGED,),      # charged to the person on record: a supervisor checks with them
    "disk_low": (CONDITION,),
    "chain_break": (CONDITION,),
}


def ends_by(kind, how):
    return how in ENDS.get(kind, (ACKNOWLEDGED,))     # a kind nobody listed can always be acknowledged


# "The open alert of this location (or none: NULL) and kind", written as the partial unique index
# alerts_one_open is (coalesce(location, ''), kind WHERE cleared_wall IS NULL), so SQLite finds it in the index
# instead of scanning every open alert on each stock change. No location id is '' (schema_v1's CHECK).
OPEN_ONE = "coalesce(location, '') = coalesce(?, '') AND kind = ? AND cleared_wall IS NULL"


def raise_alert(db, location, kind, detail, seq, wall, is_open=None):
    """Raise the alert, or bring an open one's detail up to date. is_open: whether the caller has just read
    that it is open (True) or not (False), which spares the statement that would change nothing."""
    if not is_open:
        db.execute("INSERT INTO alerts (location, kind, detail, raised_seq, raised_wall) SELECT ?, ?, ?, ?, ? "
                   "WHERE NOT EXISTS (SELECT 1 FROM alerts WHERE " + OPEN_ONE + ")",
                   [location, kind, detail, seq, wall, location, kind])
    if is_open is not False:
        db.execute("UPDATE alerts SET detail = ? WHERE " + OPEN_ONE + " AND detail IS NOT ?",
                   [detail, location, kind, detail])


def clear_alert(db, location, kind, seq, wall, how=CONDITION):
    _end(db, OPEN_ONE, [location, kind], seq, wall, how)


def end_by_count(db, location, seq, wall):
    """A count of `location` (transaction seq) ends its open alerts that a count settles."""
    kinds = [kind for kind, ways in ENDS.items() if COUNT in ways]
    _end(db, "location = ? AND kind IN (%s)" % ",".join("?" * len(kinds)), [location] + kinds, seq, wall, COUNT)


def _end(db, where, args, seq, wall, how):
    try:
        db.execute("UPDATE alerts SET cleared_seq = ?, cleared_wall = ?, cleared_how = ? "
                   "WHERE cleared_wall IS NULL AND " + where, [seq, wall, how] + args)
    except sqlite3.OperationalError as e:
        if "cleared_how" not in str(e):
            raise
        # A ledger opened with a schema before 7 (migration tests, read-only tools): no record of how.
        db.execute("UPDATE alerts SET cleared_seq = ?, cleared_wall = ? WHERE cleared_wall IS NULL AND " + where,
                   [seq, wall] + args)


def find_alert(db, alert_id):
    """The alert as a dict (id, location, kind, detail, cleared_wall, acked_wall), or None."""
    names = ("id", "location", "kind", "detail", "cleared_wall", "acked_wall")
    row = db.execute("SELECT %s FROM alerts WHERE id = ?" % ", ".join(names), [alert_id]).fetchone()
    return None if row is None else dict(zip(names, row))


def acknowledge_alert(db, alert_id, by, note, wall):
    """Record who acknowledged the alert and their note; a kind that ends by acknowledgement ends here.
    Returns whether it ended. The caller checks the person may (flows/alerts.py)."""
    kind = db.execute("SELECT kind FROM alerts WHERE id = ?", [alert_id]).fetchone()[0]
    db.execute("UPDATE alerts SET acked_wall = ?, acked_by = ?, ack_note = ? WHERE id = ?", [wall, by, note, alert_id])
    if not ends_by(kind, ACKNOWLEDGED):
        return False
    db.execute("UPDATE alerts SET cleared_wall = ?, cleared_how = ? WHERE id = ? AND cleared_wall IS NULL",
               [wall, ACKNOWLEDGED, alert_id])
    return True


def open_alerts(db, location=None):
    """Open alerts as (location, kind, detail), oldest first."""
    if location is None:
        return db.execute("SELECT location, kind, detail FROM alerts WHERE cleared_wall IS NULL ORDER BY id").fetchall()
    return db.execute("SELECT location, kind, detail FROM alerts WHERE cleared_wall IS NULL AND location = ? "
                      "ORDER BY id", [location]).fetchall()


def open_alert_rows(db):
    """Open alerts as dicts (id, location, kind, detail, raised_wall, acked_wall, acked_by, ack_note, ends:
    how this kind may end), oldest first."""
    rows = db.execute("SELECT id, location, kind, detail, raised_wall, acked_wall, acked_by, ack_note FROM alerts "
                      "WHERE cleared_wall IS NULL ORDER BY id").fetchall()
    names = ("id", "location", "kind", "detail", "raised_wall", "acked_wall", "acked_by", "ack_note")
    return [dict(zip(names, r), ends=list(ENDS.get(r[2], (ACKNOWLEDGED,)))) for r in rows]


def disk_check(ledger):
    """Raise the cabinet's `disk_low` alert (no location) while the ledger's folder has less free space than
    its mark, clear it once there is room again; returns whether it is low. The alert reaches the cloud as
    any alert does (an outbox event written by the same statement)."""
    low = ledger.space_low()
    open_now = ledger.db.execute("SELECT 1 FROM alerts WHERE location IS NULL AND kind = 'disk_low' AND "
                                 "cleared_wall IS NULL").fetchone() is not None
    if low != open_now:
        wall = ledger.clock.wall()[0]
        with ledger.transaction():
            if low:
                raise_alert(ledger.db, None, "disk_low", "%.0f MB free for the ledger, below the %d MB mark"
                            % (ledger.free_mb(), ledger.min_free_mb), None, wall)
            else:
                clear_alert(ledger.db, None, "disk_low", None, wall)
    return low
