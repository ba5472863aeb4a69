"""Returnable tools in locker doors: check-out with a due time, check-in with the condition, overdue alerts.

Rules:
- Check-out is a door issue at a location with returnable=1, through Vending's machinery: permission
  (may_issue, with a supervisor's approval where the SKU needs it), intent 'issue', unlock, outcome. When the
  door opened, a tool_loans row is written in the outcome's SQLite transaction, due after the caller's hours,
  else the location's loan_hours, else DEFAULT_LOAN_HOURS, by the ledger clock. The hours ride on the intent
  (reason "loan N h") so a check-out settled by Vending.recover() opens the same loan; a plain
  Vending.issue at a returnable door opens one too, so no tool leaves without a loan.
- Check-in returns one whole loan: its holder, or a supervisor (supervisor.SUPERVISORS) for anyone. Intent
  'return' names the loan (reason "loan #id") and the condition, then unlock, then outcome. Only a door that
  opened closes the loan; otherwise nothing moves and the loan stays open. Good: the units go back on hand
  (the outcome moves +quantity). Damaged: the outcome moves nothing (quantity 0, condition 'damaged',
  reason "N to quarantine"), locations.quarantine grows by N and a 'tool_damaged' alert asks a supervisor
  to restock or scrap them (supervisor.release_quarantine). A check-in with no loan to return is refused,
  on record.
- Overdue: open loans past their due time by the ledger clock (a Pi with an unsynchronised clock judges
  it wrongly until synced). One 'tool_overdue' alert per location while any loan there is overdue; it
  clears when none is (raise_overdue_alerts, and at every check-in).
"""
import datetime
import re
from dataclasses import dataclass
from typing import Optional

from edge_agent.ledger.alerts import clear_alert, raise_alert
from edge_agent.ledger.schema_v2 import CONDITIONS
from edge_agent.rules.permissions import Decision, may_issue
from edge_agent.flows.stock import SUPERVISORS, TOOL_DAMAGED
from edge_agent.flows.vending import IssueResult, Vending, approver_id

DEFAULT_LOAN_HOURS = 12   # a shift and a half: long enough for a job, short enough to notice a lost tool
TOOL_OVERDUE = "tool_overdue"
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


@dataclass
class ToolResult(IssueResult):
    loan: Optional[Loan] = None     # the loan opened (check-out) or returned (check-in)

    @property
    def ok(self):
        return self.refused is None and not self.unknown and self.outcomes == ["opened"]


def check_out(ledger, cabinet, person, location, quantity=1, *, hours=None, approver=None, work_order=None,
              machine_id=None):
    """Open the door for a returnable tool and lend it; returns a ToolResult (its loan when the door opened)."""
    if hours is not None and (isinstance(hours, bool) or not isinstance(hours, int) or hours < 1):
        raise ValueError("loan hours must be a whole number of at least 1, got %r" % (hours,))
    result = ToolResult(location, quantity)
    who = dict(user_id=person.user_id, cost_center=person.cost_center, work_order=work_order,
               machine_id=machine_id)
    loc = _location(ledger, location)
    if loc is None or loc["kind"] != "door" or not loc["returnable"]:
        decision = Decision.no("not_returnable", "%s does not hold returnable tools." % location)
    else:
        decision = may_issue(ledger, person, location, quantity, work_order=work_order, machine_id=machine_id,
                             approver=approver)
    if not decision.allowed:
        return _refuse(ledger, result, decision, **who, location=location, quantity=quantity)
    who.update(approver_id=approver_id(person, approver), reason="loan %d h" % hours if hours else None)
    Vending(ledger, cabinet)._actuate(loc, quantity, result, who)
    if result.outcomes == ["opened"]:
        result.loan = _loans(ledger, "id = (SELECT max(id) FROM tool_loans)")[0]   # the one just opened
    return result


def check_in(ledger, cabinet, person, location, condition, *, loan_id=None):
    """Open the door to take a tool back in `condition` ('good' or 'damaged'). loan_id: which loan, for a
    supervisor returning someone else's; by default the person's own oldest open loan there."""
    if condition not in CONDITIONS:
        raise ValueError("condition must be one of %s, got %r" % (", ".join(CONDITIONS), condition))
    supervisor = person.role in SUPERVISORS
    if loan_id is not None:
        loans = _loans(ledger, "in_seq IS NULL AND id = ? AND location = ?", [loan_id, location])
    else:
        loans = (_loans(ledger, "in_seq IS NULL AND location = ? AND user_id = ?", [location, person.user_id])
                 or (_loans(ledger, "in_seq IS NULL AND location = ?", [location]) if supervisor else []))
    loan = loans[0] if loans else None
    who = dict(user_id=person.user_id, cost_center=person.cost_center)
    result = ToolResult(location, loan.quantity if loan else 0, loan=loan)
    if loan is None:
        decision = Decision.no("no_loan", "There is no tool out from %s to return." % location)
    elif loan.user_id != person.user_id and not supervisor:
        decision = Decision.no("not_your_loan", "That tool is out to someone else; a supervisor can return it.")
    else:
        decision = Decision.yes()
    if not decision.allowed:
        return _refuse(ledger, result, decision, **who, location=location)
    who.update(condition=condition, reason="loan #%d" % loan.id)
    Vending(ledger, cabinet)._actuate(_location(ledger, location), loan.quantity, result, who, action="return")
    return result


def loans_of(ledger, user_id):
    """A person's open loans, soonest due first."""
    return _loans(ledger, "in_seq IS NULL AND user_id = ?", [user_id])


def overdue(ledger):
    """Open loans past due by the ledger clock, soonest due first."""
    now = _instant(ledger.clock.wall()[0])
    return [loan for loan in _loans(ledger, "in_seq IS NULL") if _instant(loan.due_wall) < now]


def raise_overdue_alerts(ledger):
    """Bring every location's 'tool_overdue' alert in line with its loans now; returns overdue(ledger)."""
    with ledger.transaction():
        wall = ledger.clock.wall()[0]
        seq = ledger.cabinet()["next_seq"] - 1 or None     # raised as of the last row written
        locations = {r[0] for r in ledger.db.execute(
            "SELECT location FROM tool_loans WHERE in_seq IS NULL UNION "
            "SELECT location FROM alerts WHERE kind = ? AND cleared_wall IS NULL", [TOOL_OVERDUE])}
        for location in sorted(locations):
            _evaluate_overdue(ledger, location, seq, wall)
    return overdue(ledger)


def settle(ledger, intent, outcome, given, fields):
    """Vending's hook, inside the outcome's SQLite transaction: writes the outcome of a tool movement and the
    loan it opens or closes. Returns (outcome seq, units back on hand or given), or None when the intent is
    not a tool movement (Vending writes the outcome itself)."""
    if intent["action"] == "return":
        return _settle_return(ledger, intent, outcome, given, fields)
    if intent["action"] != "issue":
        return None
    loc = _location(ledger, intent["location"])
    if loc is None or not loc["returnable"]:
        return None
    out_seq = ledger.record_outcome(intent["seq"], outcome, given, **fields)
    if given > 0:
        wall = ledger.transaction_row(out_seq)["wall_time"]
        asked = _HOURS.match(intent["reason"] or "")
        hours = int(asked.group(1)) if asked else (loc["loan_hours"] or DEFAULT_LOAN_HOURS)
        due = _instant(wall) + datetime.timedelta(hours=hours)
        ledger.db.execute("INSERT INTO tool_loans (location, sku, user_id, quantity, out_seq, out_wall, due_wall) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)", [loc["id"], intent["sku"], intent["user_id"], given,
                                                           out_seq, wall, due.isoformat(timespec="milliseconds")])
    return out_seq, given


def _settle_return(ledger, intent, outcome, given, fields):
    named = _LOAN_ID.match(intent["reason"] or "")
    loans = _loans(ledger, "in_seq IS NULL AND id = ?", [int(named.group(1))]) if named else []
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
    _evaluate_overdue(ledger, loan.location, out_seq, wall)
    return out_seq, back


def _evaluate_overdue(ledger, location, seq, wall):
    now = _instant(wall)
    late = [loan for loan in _loans(ledger, "in_seq IS NULL AND location = ?", [location])
            if _instant(loan.due_wall) < now]
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


def _refuse(ledger, result, decision, **row):
    ledger.append("refusal", **dict(row, reason=decision.reason))
    result.refused = decision
    return result


def _location(ledger, location_id):
    rows = list(ledger.db.query("SELECT id, kind, unit, returnable, loan_hours FROM locations WHERE id = ?",
                                [location_id]))
    return rows[0] if rows else None


def _loans(ledger, where, args=()):
    return [Loan(*row) for row in ledger.db.execute(
        "SELECT %s FROM tool_loans WHERE %s ORDER BY due_wall, id" % (_LOAN_COLUMNS, where), list(args))]


def _instant(text):
    value = datetime.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
