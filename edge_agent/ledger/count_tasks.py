"""Count tasks: "count this location" for a route driver or a supervisor, and what a count settles.

A task opens when the ledger can no longer be trusted at a location: a lane that turned fully and dropped
nothing NO_DROPS_SUSPECT times in a row (flows/actuation.py marks it suspected empty). At most one task is
open per location (a partial unique index, schema_v7); the outbox events count_task_opened/closed are
written by triggers.

Any `count` row at the location settles it, wherever it was written (a supervisor's cycle count, a driver's
count at a refill): Ledger.append calls `settle_by_count` in the count's own SQLite transaction, before
min/max sees the counted stock. The task closes and the `suspected_empty` alert ends with cleared_how
'count', which puts the lane back in service. See docs/decisions/0030-suspected-empty-and-returnables.md."""

from edge_agent.ledger import alerts

SUSPECTED_EMPTY = "suspected_empty"
NO_DROPS_SUSPECT = 2      # full-turn no-drops in a row on one lane, with no other outcome or count between


def open_count_task(db, location, reason, seq, wall):
    """Open the location's count task (nothing when one is open already). In the caller's transaction."""
    db.execute("INSERT INTO count_tasks (location, reason, opened_seq, opened_wall) SELECT ?, ?, ?, ? "
               "WHERE NOT EXISTS (SELECT 1 FROM count_tasks WHERE location = ? AND closed_wall IS NULL)",
               [location, reason[:200], seq, wall, location])


def settle_by_count(db, location, seq, wall):
    """A count at `location` (transaction seq): its open count task closes and its alerts that a count ends
    (suspected_empty, an unknown outcome, a weigh bin in doubt: alerts.ENDS) end as settled by the count. In
    the count's SQLite transaction."""
    db.execute("UPDATE count_tasks SET closed_seq = ?, closed_wall = ? WHERE location = ? AND closed_wall IS NULL",
               [seq, wall, location])
    alerts.end_by_count(db, location, seq, wall)       # suspected_empty and every kind a count ends (ENDS)


def suspected_empty(db, location):
    """Whether the lane is out of service until a count: an open suspected_empty alert."""
    return db.execute("SELECT 1 FROM alerts WHERE " + alerts.OPEN_ONE,
                      [location, SUSPECTED_EMPTY]).fetchone() is not None


def open_count_tasks(ledger):
    """Open count tasks, oldest first, as dicts: task_id, location, kind, unit, sku, description, on_hand
    (what the ledger says now), reason, opened_wall. For the driver's pick list and the supervisor."""
    return [dict(row) for row in ledger.db.query(
        "SELECT t.id AS task_id, t.location, l.kind, l.unit, l.sku, s.description, l.on_hand, t.reason, "
        "t.opened_wall FROM count_tasks t JOIN locations l ON l.id = t.location "
        "LEFT JOIN skus s ON s.part_number = l.sku WHERE t.closed_wall IS NULL ORDER BY t.id")]
