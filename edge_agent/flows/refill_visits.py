"""A route driver's refill visit (table refill_visits, schema 7; decision 0031): it opens at the driver's
first pick-list view or first refill of a session, gathers a line per location done, and closes when the
driver finishes (Finish visit) or their session ends. Closing writes the summary, and the outbox trigger
sends it to the cloud as the `refill_visit` event (docs/mqtt.md).

The summary (JSON, kept up to date while the visit is open, so a restart loses no line):
  {"lines": [{"location", "sku", "loaded", "counted", "expected", "difference"}...],
   "loaded": units put in, "counted": lines counted, "differences": lines whose count differed}
`expected` is what the ledger held after the loading, before the count; `difference` is counted - expected
(0 when the count agreed; a weigh bin's line has counted null: the scale counted what went in)."""
import json


def _latest_seq(ledger):
    return ledger.cabinet()["next_seq"] - 1 or None


def open_visit(ledger, user_id):
    """The user's open visit's id, opened now when they have none."""
    row = ledger.db.execute("SELECT id FROM refill_visits WHERE user_id = ? AND closed_wall IS NULL",
                            [user_id]).fetchone()
    if row is not None:
        return row[0]
    with ledger.transaction():
        cursor = ledger.db.execute(
            "INSERT INTO refill_visits (user_id, opened_seq, opened_wall, summary) VALUES (?, ?, ?, ?)",
            [user_id, _latest_seq(ledger), ledger.clock.wall()[0], json.dumps(_totals([]))])
    return cursor.lastrowid


def _totals(lines):
    return dict(lines=lines, loaded=sum(line["loaded"] for line in lines),
                counted=sum(line["counted"] is not None for line in lines),
                differences=sum(line["difference"] != 0 for line in lines))


def summary(ledger, visit_id):
    row = ledger.db.execute("SELECT summary FROM refill_visits WHERE id = ?", [visit_id]).fetchone()
    return json.loads(row[0]) if row and row[0] else _totals([])


def add_line(ledger, user_id, location, sku, loaded, counted, expected):
    """One location done in the user's visit (opened when none is): in the caller's transaction."""
    visit = open_visit(ledger, user_id)
    lines = summary(ledger, visit)["lines"]
    lines.append(dict(location=location, sku=sku, loaded=loaded, counted=counted, expected=expected,
                      difference=0 if counted is None else counted - expected))
    ledger.db.execute("UPDATE refill_visits SET summary = ? WHERE id = ?", [json.dumps(_totals(lines)), visit])


def close_visit(ledger, user_id):
    """Close the user's open visit: its summary is final and goes to the cloud. Returns the summary (with
    visit_id), or None when no visit was open."""
    row = ledger.db.execute("SELECT id FROM refill_visits WHERE user_id = ? AND closed_wall IS NULL",
                            [user_id]).fetchone()
    if row is None:
        return None
    done = summary(ledger, row[0])
    with ledger.transaction():
        ledger.db.execute("UPDATE refill_visits SET closed_seq = ?, closed_wall = ?, summary = ? WHERE id = ?",
                          [_latest_seq(ledger), ledger.clock.wall()[0], json.dumps(done), row[0]])
    return dict(done, visit_id=row[0])


def open_visitors(ledger):
    """The users with an open visit (at start-up: visits a restart cut short, to close)."""
    return [row[0] for row in ledger.db.execute("SELECT user_id FROM refill_visits WHERE closed_wall IS NULL")]
