"""Tools that left the stock for good: lost on loan, or scrapped from quarantine. One wording for the ledger
rows that record them (the flows write them, the report reads them back), and their alerts.

- Lost: a supervisor marks a lent tool lost (flows/loans.py mark_lost). An `adjustment` row of 0 at the
  door (the tool left on-hand when it was lent) with reason LOST ("tool lost: N from loan #ID, out to
  USER"); the loan closes with in_seq at that row and no condition (schema_v2's condition is 'good' or
  'damaged': a closed loan with none is a lost one). A `tool_lost` alert names every tool still missing
  there; it ends when a supervisor acknowledges it or when the tool comes back (a check-in naming the loan).
- Scrapped: a supervisor scraps quarantined units (flows/stock.py release_quarantine 'scrap'): an
  `adjustment` of 0 with reason SCRAPPED ("scrapped N from quarantine"), and a `tool_scrapped` alert that
  ends by acknowledgement."""
import re

TOOL_LOST = "tool_lost"
TOOL_SCRAPPED = "tool_scrapped"
LOST = "tool lost: %d from loan #%d, out to %s"
SCRAPPED = "scrapped %d from quarantine"
_LOST = re.compile(r"tool lost: (\d+) from loan #(\d+), out to (.+)$")
_SCRAPPED = re.compile(r"scrapped (\d+) from quarantine$")


def tool_loss(reason):
    """(what, quantity, loan id, holder) for an adjustment's reason that records a tool leaving for good
    ('lost' or 'scrapped'; loan id and holder only for a loss), else None."""
    lost = _LOST.match(reason or "")
    if lost:
        return "lost", int(lost.group(1)), int(lost.group(2)), lost.group(3)
    scrapped = _SCRAPPED.match(reason or "")
    if scrapped:
        return "scrapped", int(scrapped.group(1)), None, None
    return None


def note_alert(db, location, kind, detail, seq, wall, *, append=False):
    """Raise the location's alert of this kind with `detail`; while one is open, its detail becomes this
    (append: the open detail, "; " and this), so the text stays current (an alert_updated event). In the
    caller's transaction."""
    row = db.execute("SELECT id, detail FROM alerts WHERE location IS ? AND kind = ? AND cleared_wall IS NULL",
                     [location, kind]).fetchone()
    if row is None:
        db.execute("INSERT INTO alerts (location, kind, detail, raised_seq, raised_wall) VALUES (?, ?, ?, ?, ?)",
                   [location, kind, detail, seq, wall])
    else:
        db.execute("UPDATE alerts SET detail = ? WHERE id = ?", [row[1] + "; " + detail if append else detail,
                                                                 row[0]])
