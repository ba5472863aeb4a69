"""Returnable tools in locker doors: check-out with a due time, check-in with the condition, overdue alerts.

Rules:
- Check-out is a door issue at a location with returnable=1, through the actuation core (actuation.py): permission
  (issue_refusal, with a supervisor's approval where the SKU needs it), intent 'issue', unlock, outcome. When the
  door opened, a tool_loans row is written in the outcome's SQLite transaction, due after the caller's hours,
  else the location's loan_hours, else DEFAULT_LOAN_HOURS, by the ledger clock. The hours ride on the intent
  (reason "loan N h") so a check-out settled by Vending.recover() opens the same loan; a plain
  issue (vending.py) at a returnable door opens one too, so no tool leaves without a loan.
- Check-in returns one whole loan: its holder, or a supervisor (roles.SUPERVISORS) for anyone. Intent
  'return' names the loan (reason "loan #id") and the condition, then unlock, then outcome. Only a door that
  opened closes the loan; otherwise nothing moves and the loan stays open. Good: the units go back on hand
  (the outcome moves +quantity). Damaged: the outcome moves nothing (quantity 0, condition 'damaged',
  reason "N to quarantine"), locations.quarantine grows by N and a 'tool_damaged' alert asks a supervisor
  to restock or scrap them (stock.release_quarantine). A check-in with no loan to return is refused,
  on record.
- Lost: a supervisor marks an open loan's tool lost (mark_lost): the loan closes as lost with a `tool_lost`
  alert, never a refill (a tool is not consumable stock: ledger/minmax.py). If it turns up, a check-in
  naming the loan takes it back and the alert ends (ledger/tool_losses.py).
- Overdue: open loans past their due time by the ledger clock (a Pi with an unsynchronised clock judges
  it wrongly until synced). One 'tool_overdue' alert per location while any loan there is overdue; it
  clears when none is (raise_overdue_alerts, and at every check-in).

The loan rows themselves are written with the outcome, in its SQLite transaction: loan_records.py.
Refusals are on record and raised as a Refusal.
"""
from dataclasses import asdict, dataclass
from typing import Optional

from edge_agent.flows.actuation import Actuator, IssueResult
from edge_agent.flows.loan_records import (DEFAULT_LOAN_HOURS, OPEN_OR_LOST, TOOL_OVERDUE, Loan, evaluate_overdue,
                                           find_loans, record_lost)
from edge_agent.ledger.clock import instant
from edge_agent.ledger.locations import find_location
from edge_agent.ledger.schema_v2 import CONDITIONS
from edge_agent.rules.permissions import approver_id, issue_refusal
from edge_agent.rules.refusal import Refusal
from edge_agent.rules.roles import SUPERVISORS

__all__ = ["DEFAULT_LOAN_HOURS", "Loan", "ToolResult", "check_in", "check_out", "loans_of", "mark_lost",
           "open_loans", "overdue", "raise_overdue_alerts", "tools_out"]


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
    who = dict(user_id=person.user_id, cost_center=person.cost_center, work_order=work_order,
               machine_id=machine_id)
    loc = find_location(ledger, location)
    if loc is None or loc.kind != "door" or not loc.returnable:
        refusal = Refusal("not_returnable", "%s does not hold returnable tools." % location)
    else:
        refusal = issue_refusal(ledger, person, location, quantity, work_order=work_order, machine_id=machine_id,
                                approver=approver)
    if refusal:
        raise refusal.record(ledger, location=location, quantity=quantity, **who)
    who.update(approver_id=approver_id(person, approver), reason="loan %d h" % hours if hours else None)
    result = ToolResult(location, quantity)
    Actuator(ledger, cabinet).run(loc, quantity, result, who)
    if result.outcomes == ["opened"]:
        result.loan = find_loans(ledger, "id = (SELECT max(id) FROM tool_loans)")[0]   # the one just opened
    return result


def check_in(ledger, cabinet, person, location, condition, *, loan_id=None):
    """Open the door to take a tool back in `condition` ('good' or 'damaged'). loan_id: which loan, for a
    supervisor returning someone else's; by default the person's own oldest open loan there."""
    if condition not in CONDITIONS:
        raise ValueError("condition must be one of %s, got %r" % (", ".join(CONDITIONS), condition))
    supervisor = person.role in SUPERVISORS
    if loan_id is not None:      # an open loan, or one marked lost whose tool turned up after all
        loans = find_loans(ledger, OPEN_OR_LOST + " AND id = ? AND location = ?", [loan_id, location])
    else:
        loans = (find_loans(ledger, "in_seq IS NULL AND location = ? AND user_id = ?", [location, person.user_id])
                 or (find_loans(ledger, "in_seq IS NULL AND location = ?", [location]) if supervisor else []))
    loan = loans[0] if loans else None
    who = dict(user_id=person.user_id, cost_center=person.cost_center)
    refusal = None
    if loan is None:
        refusal = Refusal("no_loan", "There is no tool out from %s to return." % location)
    elif loan.user_id != person.user_id and not supervisor:
        refusal = Refusal("not_your_loan", "That tool is out to someone else; a supervisor can return it.")
    if refusal:
        raise refusal.record(ledger, location=location, **who)
    who.update(condition=condition, reason="loan #%d" % loan.id)
    result = ToolResult(location, loan.quantity, loan=loan)
    Actuator(ledger, cabinet).run(find_location(ledger, location), loan.quantity, result, who, action="return")
    return result


def mark_lost(ledger, person, loan_id, note=None):
    """A supervisor records that the tool of an open loan is lost: the loan closes as lost, on record (an
    adjustment of 0 naming the loan: ledger/tool_losses.py), with a `tool_lost` alert that ends when a
    supervisor acknowledges it or when the tool comes back (check_in naming the loan). Returns the Loan."""
    loans = find_loans(ledger, "in_seq IS NULL AND id = ?", [loan_id]) if _whole(loan_id) else []
    refusal = None
    if person.role not in SUPERVISORS:
        refusal = Refusal("not_allowed", "Only a supervisor can mark a tool lost.")
    elif not loans:
        refusal = Refusal("no_loan", "No tool is out on loan #%s: it was returned, marked lost already, or "
                          "never lent." % (loan_id,))
    if refusal:
        raise refusal.record(ledger, user_id=person.user_id, cost_center=person.cost_center,
                             location=loans[0].location if loans else None)
    record_lost(ledger, loans[0], person.user_id, (note or "").strip() or None)
    return loans[0]


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


def loans_of(ledger, user_id):
    """A person's open loans, soonest due first."""
    return find_loans(ledger, "in_seq IS NULL AND user_id = ?", [user_id])


def open_loans(ledger):
    """Every tool out now, soonest due first (a supervisor's view: which one to mark lost)."""
    return find_loans(ledger, "in_seq IS NULL")


def tools_out(ledger):
    """Every tool out now, soonest due first, as dicts for the supervisor's screen: the Loan's fields, the
    holder's `name`, the tool's `description` and `overdue` (past due by the ledger clock, not the page's)."""
    late = {loan.id for loan in overdue(ledger)}
    names = dict(ledger.db.execute("SELECT id, name FROM users").fetchall())
    described = dict(ledger.db.execute("SELECT part_number, description FROM skus").fetchall())
    return [dict(asdict(loan), name=names.get(loan.user_id), description=described.get(loan.sku),
                 overdue=loan.id in late) for loan in open_loans(ledger)]


def overdue(ledger):
    """Open loans past due by the ledger clock, soonest due first."""
    now = instant(ledger.clock.wall()[0])
    return [loan for loan in open_loans(ledger) if instant(loan.due_wall) < now]


def raise_overdue_alerts(ledger):
    """Bring every location's 'tool_overdue' alert in line with its loans now; returns overdue(ledger)."""
    with ledger.transaction():
        wall = ledger.clock.wall()[0]
        seq = ledger.cabinet()["next_seq"] - 1 or None     # raised as of the last row written
        locations = {r[0] for r in ledger.db.execute(
            "SELECT location FROM tool_loans WHERE in_seq IS NULL UNION "
            "SELECT location FROM alerts WHERE kind = ? AND cleared_wall IS NULL", [TOOL_OVERDUE])}
        for location in sorted(locations):
            evaluate_overdue(ledger, location, seq, wall)
    return overdue(ledger)
