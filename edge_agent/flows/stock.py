"""Supervisor actions: cycle counts, adjustments with a reason, quarantine release, clearing a jammed lane.

Who: SUPERVISORS, the roles 'supervisor' (runs the floor) and 'customer_admin' (owns the site's stock). A
route driver corrects stock only through the count at a refill (refill.py); nobody else corrects it at all.
Anyone else is refused: a `refusal` row goes on record and the Refusal is raised, as it is for a count
below zero, an adjustment with no reason, or a release of more than is in quarantine.

Approvals are not made here: a supervisor badges for Vending.issue(approver=...) or loans.check_out
(approver=...), and the issue's intent and outcome rows carry approver_id.

Quarantine: locations.quarantine holds units that came back damaged (loans.py); they are not in on_hand.
A release is one SQLite transaction, never more than is held: 'restock' takes N out of quarantine and adds
them to on_hand through an adjustment +N with reason 'quarantine release'; 'scrap' takes N out and writes
an adjustment of 0 with reason 'scrapped N from quarantine', so the log shows the scrap though on_hand does
not move, and a 'tool_scrapped' alert (a supervisor acknowledges it; the report lists the scrap:
ledger/tool_losses.py). The 'tool_damaged' alert clears once nothing is left in quarantine there.

Lane clear: intent 'clear_lane', CLEAR_LANE, outcome (the actuation core, so a lost answer is settled by
recover()). The firmware only re-enables the lane (firmware/cabinet.py: it does not turn the spiral), so
free the spiral first: a lane still jammed jams again on its next vend and raises a new alert. A clear
ends the open 'lane_jammed' alert in the outcome's transaction (actuation.py).

The stock listing a supervisor counts from is `stock_listing`.
"""
from dataclasses import dataclass
from typing import Optional

from edge_agent.flows.actuation import Actuator, IssueResult
from edge_agent.flows.loan_records import TOOL_DAMAGED
from edge_agent.ledger.alerts import clear_alert
from edge_agent.ledger.locations import all_locations, find_location
from edge_agent.ledger.tool_losses import SCRAPPED, TOOL_SCRAPPED, note_alert
from edge_agent.rules.refusal import Refusal
from edge_agent.rules.roles import SUPERVISORS

DISPOSITIONS = ("restock", "scrap")


@dataclass
class LaneClear:
    location: str
    outcome: Optional[str] = None       # 'cleared', or what the cabinet said instead
    unknown: bool = False               # the answer was lost: recovery settles the intent

    @property
    def ok(self):
        return self.outcome == "cleared"


def cycle_count(ledger, person, location, counted, reason=None):
    """Set on_hand to what was counted (a `count` row); returns counted minus what the ledger held."""
    _check(ledger, person, location, counted)
    if not _whole(counted) or counted < 0:
        _refuse(ledger, person, location, counted, "bad_quantity", "A count is a whole number, 0 or more.")
    with ledger.transaction():
        before = ledger.on_hand(location)
        ledger.append("count", user_id=person.user_id, location=location, quantity=counted,
                      reason=reason or "cycle count")
    return counted - before


def adjust(ledger, person, location, delta, reason):
    """Add delta (negative to take away) with a reason (an `adjustment` row); returns the new on_hand."""
    _check(ledger, person, location, delta)
    if not _whole(delta) or delta == 0:
        _refuse(ledger, person, location, delta, "bad_quantity", "An adjustment changes the count by a whole "
                "number other than 0.")
    if not (reason or "").strip():
        _refuse(ledger, person, location, delta, "needs_reason", "An adjustment needs a reason.")
    if ledger.on_hand(location) + delta < 0:
        _refuse(ledger, person, location, delta, "below_zero", "%s holds %d: it cannot go below zero."
                % (location, ledger.on_hand(location)))
    ledger.append("adjustment", user_id=person.user_id, location=location, quantity=delta, reason=reason.strip())
    return ledger.on_hand(location)


def release_quarantine(ledger, person, location, quantity, disposition):
    """Restock or scrap `quantity` quarantined units; returns how many stay in quarantine."""
    if disposition not in DISPOSITIONS:
        raise ValueError("disposition must be one of %s, got %r" % (", ".join(DISPOSITIONS), disposition))
    _check(ledger, person, location, quantity)
    held = find_location(ledger, location).quarantine
    if not _whole(quantity) or not 1 <= quantity <= held:
        _refuse(ledger, person, location, quantity, "not_in_quarantine", "%s has %d in quarantine."
                % (location, held))
    with ledger.transaction():
        ledger.db.execute("UPDATE locations SET quarantine = quarantine - ? WHERE id = ?", [quantity, location])
        if disposition == "restock":
            row = ledger.append("adjustment", user_id=person.user_id, location=location, quantity=quantity,
                                reason="quarantine release")
        else:
            row = ledger.append("adjustment", user_id=person.user_id, location=location, quantity=0,
                                reason=SCRAPPED % quantity)
            note_alert(ledger.db, location, TOOL_SCRAPPED, "%d %s scrapped from quarantine by %s" % (
                quantity, find_location(ledger, location).name, person.user_id), row["seq"], row["wall_time"],
                append=True)
        left = find_location(ledger, location).quarantine
        if left == 0:
            clear_alert(ledger.db, location, TOOL_DAMAGED, row["seq"], row["wall_time"])
    return left


def clear_lane(ledger, person, cabinet, location):
    """Re-enable a jammed lane (after the spiral was freed); returns a LaneClear."""
    _check(ledger, person, location)
    loc = find_location(ledger, location)
    if loc.kind != "lane":
        _refuse(ledger, person, location, None, "not_a_lane", "%s is not a spiral lane." % location)
    result = IssueResult(location, 0)
    Actuator(ledger, cabinet).run(loc, None, result, dict(user_id=person.user_id, cost_center=person.cost_center),
                                  action="clear_lane")
    return LaneClear(location, result.outcomes[0] if result.outcomes else None, unknown=result.unknown)


def stock_listing(ledger):
    """Every stock location (empty ones too) with on_hand and quarantine, for counts, adjustments and
    quarantine releases: lanes, doors, weigh bins, scan-only bins."""
    return [dict(location=loc.id, kind=loc.kind, unit=loc.unit, sku=loc.sku, description=loc.description,
                 on_hand=loc.on_hand, quarantine=loc.quarantine) for loc in all_locations(ledger)]


def _check(ledger, person, location, quantity=None):
    """Raises the Refusal (on record) when this person may not do supervisor work here."""
    if person.role not in SUPERVISORS:
        _refuse(ledger, person, location, quantity, "not_allowed", "Only a supervisor can do this.")
    if find_location(ledger, location) is None:
        _refuse(ledger, person, location, quantity, "no_such_location", "There is no location %s." % location)


def _refuse(ledger, person, location, quantity, reason, words):
    raise Refusal(reason, words).record(ledger, user_id=person.user_id, location=location,
                                        quantity=quantity if _whole(quantity) else None)


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)
