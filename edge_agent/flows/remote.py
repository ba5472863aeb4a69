"""What the cloud asks the cabinet to do, once cloud/commands.py has checked the command's signature,
expiry and replay: unlock a door. An intent and outcome like any actuation (actuation.py), nothing charged
(who takes what is unknown: a supervisor counts), recorded as user cloud:<command id>."""
from edge_agent.flows.actuation import Actuator, IssueResult
from edge_agent.ledger.locations import find_location
from edge_agent.rules.refusal import Refusal


def remote_unlock(ledger, cabinet, door, command_id, reason=None):
    """Unlock door number `door`; returns the IssueResult (unknown: the locker closes until recovery)."""
    location = "D%d" % door
    loc = find_location(ledger, location)
    if loc is None or loc.kind != "door":
        raise Refusal("no_such_door", "There is no door %d." % door)
    result = IssueResult(location, 0)
    Actuator(ledger, cabinet).run(loc, 0, result, dict(user_id="cloud:%s" % command_id,
                                                       reason="remote unlock: %s" % (reason or "no reason given")))
    return result
