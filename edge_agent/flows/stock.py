"""Supervisor actions: cycle counts, adjustments with a reason, quarantine release, clearing a jammed lane.

Who: SUPERVISORS, the roles 'supervisor' (runs the floor) and 'customer_admin' (owns the site's stock). A
route driver corrects stock only through the count at a refill (refill.py); nobody else corrects it at all.
Anyone else is refused: a `refusal` row goes on record and the refusing permissions.Decision comes back, as
it does for a count below zero, an adjustment with no reason, or a release of more than is in quarantine.

Approvals are not made here: a supervisor badges for Vending.issue(approver=...) or tools.check_out
(approver=...), and the issue's intent and outcome rows carry approver_id.

Quarantine: locations.quarantine holds units that came back damaged (tools.py); they are not in on_hand.
A release is one SQLite transaction, never more than is held: 'restock' takes N out of quarantine and adds
them to on_hand through an adjustment +N with reason 'quarantine release'; 'scrap' takes N out and writes
an adjustment of 0 with reason 'scrapped N from quarantine', so the log shows the scrap though on_hand does
not move. The 'tool_damaged' alert clears once nothing is left in quarantine there.

Lane clear: intent 'clear_lane', CLEAR_LANE, outcome (Vending's machinery, so a lost answer is settled by
recover()). The firmware only re-enables the lane (firmware/cabinet.py: it does not turn the spiral), so
free the spiral first: a lane still jammed jams again on its next vend and raises a new alert. A clear
ends the open 'lane_jammed' alert in the outcome's transaction (vending.py).
"""
from dataclasses import dataclass
from typing import Optional

from edge_agent.ledger.alerts import clear_alert
from edge_agent.rules.permissions import SUPERVISORS, Decision
from edge_agent.flows.vending import IssueResult, Vending

DISPOSITIONS = ("restock", "scrap")
TOOL_DAMAGED = "tool_damaged"      # raised by tools.py on a damaged return (tools imports this module)


@dataclass
class LaneClear:
    location: str
    outcome: Optional[str] = None       # 'cleared', or what the cabinet said instead
    refused: Optional[Decision] = None
    unknown: bool = False               # the answer was lost: recover() settles the intent

    @property
    def ok(self):
        return self.outcome == "cleared"


def cycle_count(ledger, person, location, counted, reason=None):
    """Set on_hand to what was counted (a `count` row); returns counted minus what the ledger held."""
    refused = _refusal(ledger, person, location, counted)
    if refused is None and (not _whole(counted) or counted < 0):
        refused = _refuse(ledger, person, location, counted, "bad_quantity", "A count is a whole number, 0 or more.")
    if refused:
        return refused
    with ledger.transaction():
        before = ledger.on_hand(location)
        ledger.append("count", user_id=person.user_id, location=location, quantity=counted,
                      reason=reason or "cycle count")
    return counted - before


def adjust(ledger, person, location, delta, reason):
    """Add delta (negative to take away) with a reason (an `adjustment` row); returns the new on_hand."""
    refused = _refusal(ledger, person, location, delta)
    if refused is None and (not _whole(delta) or delta == 0):
        refused = _refuse(ledger, person, location, delta, "bad_quantity", "An adjustment changes the count by "
                          "a whole number other than 0.")
    if refused is None and not (reason or "").strip():
        refused = _refuse(ledger, person, location, delta, "needs_reason", "An adjustment needs a reason.")
    if refused is None and ledger.on_hand(location) + delta < 0:
        refused = _refuse(ledger, person, location, delta, "below_zero", "%s holds %d: it cannot go below zero."
                          % (location, ledger.on_hand(location)))
    if refused:
        return refused
    ledger.append("adjustment", user_id=person.user_id, location=location, quantity=delta, reason=reason.strip())
    return ledger.on_hand(location)


def release_quarantine(ledger, person, location, quantity, disposition):
    """Restock or scrap `quantity` quarantined units; returns how many stay in quarantine."""
    if disposition not in DISPOSITIONS:
        raise ValueError("disposition must be one of %s, got %r" % (", ".join(DISPOSITIONS), disposition))
    refused = _refusal(ledger, person, location, quantity)
    if refused is None:
        held = _quarantine(ledger, location)
        if not _whole(quantity) or not 1 <= quantity <= held:
            refused = _refuse(ledger, person, location, quantity, "not_in_quarantine",
                              "%s has %d in quarantine." % (location, held))
    if refused:
        return refused
    with ledger.transaction():
        ledger.db.execute("UPDATE locations SET quarantine = quarantine - ? WHERE id = ?", [quantity, location])
        if disposition == "restock":
            row = ledger.append("adjustment", user_id=person.user_id, location=location, quantity=quantity,
                                reason="quarantine release")
        else:
            row = ledger.append("adjustment", user_id=person.user_id, location=location, quantity=0,
                                reason="scrapped %d from quarantine" % quantity)
        left = _quarantine(ledger, location)
        if left == 0:
            clear_alert(ledger.db, location, TOOL_DAMAGED, row["seq"], row["wall_time"])
    return left


def clear_lane(ledger, person, cabinet, location):
    """Re-enable a jammed lane (after the spiral was freed); returns a LaneClear."""
    refused = _refusal(ledger, person, location)
    vending = Vending(ledger, cabinet)
    loc = vending._location(location)
    if refused is None and (loc is None or loc["kind"] != "lane"):
        refused = _refuse(ledger, person, location, None, "not_a_lane", "%s is not a spiral lane." % location)
    if refused:
        return LaneClear(location, refused=refused)
    result = IssueResult(location, 0)
    vending._actuate(loc, None, result, dict(user_id=person.user_id, cost_center=person.cost_center),
                     action="clear_lane")
    return LaneClear(location, result.outcomes[0] if result.outcomes else None, unknown=result.unknown)


def _refusal(ledger, person, location, quantity=None):
    """The refusal (on record) when this person may not do supervisor work here, else None."""
    if person.role not in SUPERVISORS:
        return _refuse(ledger, person, location, quantity, "not_allowed", "Only a supervisor can do this.")
    if not ledger.db.execute("SELECT 1 FROM locations WHERE id = ?", [location]).fetchone():
        return _refuse(ledger, person, location, quantity, "no_such_location", "There is no location %s."
                       % location)
    return None


def _refuse(ledger, person, location, quantity, reason, message):
    ledger.append("refusal", user_id=person.user_id, location=location,
                  quantity=quantity if _whole(quantity) else None, reason=reason)
    return Decision.no(reason, message)


def _quarantine(ledger, location):
    return ledger.db.execute("SELECT quarantine FROM locations WHERE id = ?", [location]).fetchone()[0]


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)
