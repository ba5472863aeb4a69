"""The tool loans an actuation's outcome opens or closes, written in the outcome's SQLite transaction
(actuation.py calls `settle` for every outcome), so a loan exists exactly when the door really opened,
whether the answer came at once or through recovery. The lending and returning themselves: loans.py."""
import datetime
import re
from dataclasses import dataclass
from typing import Optional

from edge_agent.ledger.alerts import clear_alert, raise_alert
from edge_agent.ledger.clock import instant

DEFAULT_LOAN_HOURS = 12   # a shift and a half: long enough for a job, short enough to notice a lost tool
TOOL_OVERDUE = "tool_overdue"
TOOL_DAMAGED = "tool_damaged"      # a supervisor restocks or scraps the quarantined units (stock.py)
_HOURS = re.compile(r"loan (\d+) h$")
_LOAN_ID = re.compile(r"loan #(\d+)$")
_LOAN_COLUMNS = "id, location, sku, user_id, quantity, out_seq, out_wall, due_wall"


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
    loans = find_loans(ledger, "in_seq IS NULL AND id = ?", [int(named.group(1))]) if named else []
    if not loans or outcome != "opened":
        # The door stayed shut (or the loan was closed meanwhile): nothing came back, the loan stays as it is.
        return ledger.record_outcome(intent["seq"], outcome, 0, **fields), 0
    loan = loans[0]
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
    return out_seq, back


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
