"""Alerts in the ledger: raised once per location and kind while open (a partial unique index makes that a
rule of the database), cleared when the condition ends. Called inside the caller's SQLite transaction."""


def raise_alert(db, location, kind, detail, seq, wall):
    db.execute("INSERT INTO alerts (location, kind, detail, raised_seq, raised_wall) SELECT ?, ?, ?, ?, ? "
               "WHERE NOT EXISTS (SELECT 1 FROM alerts WHERE location IS ? AND kind = ? AND cleared_wall IS NULL)",
               [location, kind, detail, seq, wall, location, kind])


def clear_alert(db, location, kind, seq, wall):
    db.execute("UPDATE alerts SET cleared_seq = ?, cleared_wall = ? "
               "WHERE location IS ? AND kind = ? AND cleared_wall IS NULL", [seq, wall, location, kind])


def open_alerts(db, location=None):
    """Open alerts as (location, kind, detail), oldest first."""
    if location is None:
        return db.execute("SELECT location, kind, detail FROM alerts WHERE cleared_wall IS NULL ORDER BY id").fetchall()
    return db.execute("SELECT location, kind, detail FROM alerts WHERE cleared_wall IS NULL AND location = ? "
                      "ORDER BY id", [location]).fetchall()


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
