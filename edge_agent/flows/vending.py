"""Issuing from spiral lanes and locker doors: the permission check, then one actuation per unit
(actuation.py: intent, command, outcome). A lane vends one unit per actuation and stops at the first that
does not end as asked; a door opens once for the quantity. An issue approved by a supervisor carries
approver_id on its intent and outcome rows. A refusal is on record and raised as a Refusal; a refusal part
way (the cabinet stopped answering after some units) comes back on the result, with what was given."""
from edge_agent.flows.actuation import Actuator, IssueResult
from edge_agent.ledger.count_tasks import SUSPECTED_EMPTY
from edge_agent.ledger.locations import find_location
from edge_agent.rules.permissions import approver_id, issue_refusal
from edge_agent.rules.refusal import Refusal

__all__ = ["IssueResult", "Vending", "jammed"]


def jammed(ledger, location_id):
    """Whether the ledger holds an open jam alert for the lane: a supervisor must clear it first."""
    return "lane_jammed" in out_of_service(ledger, location_id)


def out_of_service(ledger, location_id):
    """The kinds of the lane's open alerts that keep its motor still (lane_jammed, suspected_empty), in one
    look-up through the open-alerts index."""
    return {kind for kind, in ledger.conn.execute(
        "SELECT kind FROM alerts WHERE coalesce(location, '') = coalesce(?, '') AND kind IN (?, ?) AND "
        "cleared_wall IS NULL", (location_id, "lane_jammed", SUSPECTED_EMPTY))}


class Vending:
    def __init__(self, ledger, cabinet):
        self.ledger = ledger
        self.actuator = Actuator(ledger, cabinet)

    def issue(self, person, location_id, quantity, *, work_order=None, machine_id=None, approver=None):
        """Take `quantity` from a lane or a locker door; returns the IssueResult, or raises the Refusal."""
        who = dict(user_id=person.user_id, cost_center=person.cost_center, work_order=work_order,
                   machine_id=machine_id)
        loc = find_location(self.ledger, location_id)
        refusal = issue_refusal(self.ledger, person, location_id, quantity, work_order=work_order,
                                machine_id=machine_id, approver=approver, loc=loc)
        held = out_of_service(self.ledger, location_id) if refusal is None and loc.kind == "lane" else ()
        if "lane_jammed" in held:
            # The ledger remembers a jam the firmware may have forgotten (a reset re-enables its lanes):
            # no motor runs until a supervisor has freed the spiral and cleared the lane.
            refusal = Refusal("lane_jammed", "Lane %d is jammed. A supervisor must clear it first." % loc.unit)
        elif SUSPECTED_EMPTY in held:
            # Turned fully twice and nothing dropped: no motor runs for it until someone has counted it.
            refusal = Refusal("suspected_empty", "Lane %d is out of service: it turned without dropping anything, "
                              "so it may be empty. It is back once a supervisor or the driver counts it."
                              % loc.unit)
        if refusal:
            raise refusal.record(self.ledger, location=location_id, quantity=quantity, **who)
        if loc.kind not in ("lane", "door"):
            raise ValueError("issuing from a %s location is not built yet" % loc.kind)
        who["approver_id"] = approver_id(person, approver)     # after the check: a refusal names no approver
        result = IssueResult(location_id, quantity)
        units = [1] * quantity if loc.kind == "lane" else [quantity]  # one vend, one intent, one outcome per unit
        for unit in units:
            try:
                if not self.actuator.run(loc, unit, result, who):
                    break
            except Refusal as refusal:
                if not result.outcomes:
                    raise                      # nothing happened: the person is told, and may try again
                result.refused = refusal       # stopped part way: what was given stands
                break
        return result

    def recover(self):
        """Settle every pending intent (actuation.Actuator.recover)."""
        return self.actuator.recover()
