"""The tool loans an actuation's outcome opens or closes, written in the outcome's SQLite transaction
(actuation.py calls `settle` for every outcome), so a loan exists exactly when the door really opened,
whether the answer came at once or through recovery. The lending and returning themselves: loans.py."""
import datetime
import re
from dataclasses import dataclass
from typing import Optional

from edge_agent.ledger.alerts import clear_alert, raise_alert
from edge_agent.ledger.clock import instant
from edge_agent.ledger.tool_losses import LOST, TOOL_LOST, note_alert

DEFAULT_LOAN_HOURS = 12   # a shift and a half: long enough for a job, short enough to notice a lost tool
TOOL_OVERDUE = "tool_overdue"
TOOL_DAMAGED = "tool_damaged"      # a supervisor restocks or scraps the quarantined units (stock.py)
_HOURS = re.compile(r"loan (\d+) h$")
_LOAN_ID = re.compile(r"loan #(\d+)$")
_LOAN_COLUMNS = "id, location, sku, user_id, quantity, out_seq, out_wall, due_wall"
OPEN_OR_LOST = "(in_seq IS NULL OR condition IS NULL)"    # a loan closed with no condition was marked lost
LOST_LOANS = "in_seq IS NOT NULL AND condition IS NULL"


@dataclass(frozen=True)
class Loan:
    id: int
    location: str
    sku: Optional[str]
    user_id: str
    quantity: int
    out_seq: int
    out_wall: str
    due_wall: str


def settle(ledger, intent, loc, outcome, given, fields):
    """Inside the outcome's SQLite transaction: writes the outcome of a tool movement at `loc` (a Location)
    and the loan it opens or closes. Returns (outcome seq, units back on hand or given), or None when the
    intent is not a tool movement (the actuator writes the outcome itself)."""
    if intent["action"] == "return":
        return _settle_return(ledger, intent, outcome, given, fields)
    if intent["action"] != "issue":
        return None
    if not loc.returnable:
        return None
    out_seq = ledger.record_outcome(intent["seq"], outcome, given, **fields)
    if given > 0:
        wall = ledger.transaction_row(out_seq)["wall_time"]
        asked = _HOURS.match(intent["reason"] or "")
        hours = int(asked.group(1)) if asked else (loc.loan_hours or DEFAULT_LOAN_HOURS)
        due = instant(wall) + datetime.timedelta(hours=hours)
        ledger.db.execute("INSERT INTO tool_loans (location, sku, user_id, quantity, out_seq, out_wall, due_wall) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)", [loc.id, intent["sku"], intent["user_id"], given,
                                                           out_seq, wall, due.isoformat(timespec="milliseconds")])
    return out_seq, given


def _settle_return(ledger, intent, outcome, given, fields):
    named = _LOAN_ID.match(intent["reason"] or "")
    # The loan named: open, or marked lost and now back after all.
    loans = find_loans(ledger, OPEN_OR_LOST + " AND id = ?", [int(named.group(1))]) if named else []
    if not loans or outcome != "opened":
        # The door stayed shut (or the loan was closed meanwhile): nothing came back, the loan stays as it is.
        return ledger.record_outcome(intent["seq"], outcome, 0, **fields), 0
    loan = loans[0]
    was_lost = bool(find_loans(ledger, LOST_LOANS + " AND id = ?", [loan.id]))
    damaged = intent["condition"] == "damaged"
    if damaged:
        fields = dict(fields, reason="%d to quarantine" % loan.quantity)
    back = 0 if damaged else loan.quantity          # a damaged unit never counts as available stock
    out_seq = ledger.record_outcome(intent["seq"], outcome, back, **fields)
    wall = ledger.transaction_row(out_seq)["wall_time"]
    db = ledger.db
    db.execute("UPDATE tool_loans SET in_seq = ?, in_wall = ?, condition = ? WHERE id = ?",
               [out_seq, wall, intent["condition"], loan.id])
    if damaged:
        db.execute("UPDATE locations SET quarantine = quarantine + ? WHERE id = ?", [loan.quantity, loan.location])
        raise_alert(db, loan.location, TOOL_DAMAGED, "%d returned damaged by %s (loan #%d): restock or scrap"
                    % (loan.quantity, intent["user_id"], loan.id), out_seq, wall)
    evaluate_overdue(ledger, loan.location, out_seq, wall)
    if was_lost:
        evaluate_lost(ledger, loan.location, out_seq, wall)
    return out_seq, back


def record_lost(ledger, loan, by, note=None):
    """A supervisor (`by`) says the tool of this open loan is lost: an adjustment of 0 at its door (it left
    on-hand when it was lent) whose reason says which loan, the loan closed with no condition, the tool_lost
    alert, and the overdue alert brought in line, in one SQLite transaction. Returns the adjustment row."""
    with ledger.transaction():
        row = ledger.append("adjustment", user_id=by, location=loan.location, quantity=0,
                            reason=LOST % (loan.quantity, loan.id, loan.user_id), detail=note or None)
        seq, wall = row["seq"], row["wall_time"]
        ledger.db.execute("UPDATE tool_loans SET in_seq = ?, in_wall = ?, condition = NULL WHERE id = ?",
                          [seq, wall, loan.id])
        note_alert(ledger.db, loan.location, TOOL_LOST, "%s, marked lost by %s%s" % (
            lost_words(ledger, loan), by, ": " + note if note else ""), seq, wall, append=True)
        evaluate_overdue(ledger, loan.location, seq, wall)
    return row


def evaluate_lost(ledger, location, seq, wall):
    """After a lost tool came back: the tool_lost alert names the tools still missing there, or ends."""
    missing = find_loans(ledger, LOST_LOANS + " AND location = ?", [location])
    if not missing:
        clear_alert(ledger.db, location, TOOL_LOST, seq, wall)
        return
    ledger.db.execute("UPDATE alerts SET detail = ? WHERE location = ? AND kind = ? AND cleared_wall IS NULL",
                      ["; ".join(lost_words(ledger, loan) for loan in missing), location, TOOL_LOST])


def lost_words(ledger, loan):
    names = dict(ledger.db.execute("SELECT id, name FROM users").fetchall())
    return "loan #%d: %d out to %s%s since %s" % (loan.id, loan.quantity, loan.user_id,
                                                 " (%s)" % names[loan.user_id] if names.get(loan.user_id) else "",
                                                 loan.out_wall)


def evaluate_overdue(ledger, location, seq, wall):
    now = instant(wall)
    late = [loan for loan in find_loans(ledger, "in_seq IS NULL AND location = ?", [location])
            if instant(loan.due_wall) < now]
    if not late:
        clear_alert(ledger.db, location, TOOL_OVERDUE, seq, wall)
        return
    names = dict(ledger.db.execute("SELECT id, name FROM users").fetchall())
    detail = "; ".join("out to %s%s, due %s" % (loan.user_id, " (%s)" % names[loan.user_id]
                                                 if names.get(loan.user_id) else "", loan.due_wall)
                       for loan in late)
    raise_alert(ledger.db, location, TOOL_OVERDUE, detail, seq, wall)
    # One alert per location: keep its detail current as loans there go overdue or come back.
    ledger.db.execute("UPDATE alerts SET detail = ? WHERE location = ? AND kind = ? AND cleared_wall IS NULL",
                      [detail, location, TOOL_OVERDUE])


def find_loans(ledger, where, args=()):
    return [Loan(*row) for row in ledger.db.execute(
        "SELECT %s FROM tool_loans WHERE %s ORDER BY due_wall, id" % (_LOAN_COLUMNS, where), list(args))]
