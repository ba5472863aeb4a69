"""The installer's work at the cabinet: its health as the firmware reports it, a door's latch pulsed and a
lane turned once to see them work, and weigh bins tared, calibrated and read. Every command that moves or
changes something is an actuation like any other (actuation.py: intent, command, outcome), nothing is
charged except an item a test turn drops, which is recorded as taken by the installer: what left the
cabinet is always on record. Who may do this is the agent's gate (roles.INSTALLERS); commissioning
(cli/commissioning/) walks every unit through these same functions."""
from edge_agent.flows.actuation import Actuator, IssueResult
from edge_agent.ledger.locations import find_location, units
from edge_agent.link.codes import BinFlag, DoorState, LaneState, word
from edge_agent.link.errors import LinkError
from edge_agent.rules.refusal import Refusal

UNIT_WORDS = {"door": "door", "lane": "lane", "bin": "weigh bin"}    # "L9 is not a lane."
LANE_WORDS = {LaneState.IDLE: "ok", LaneState.RUNNING: "running", LaneState.DISABLED: "disabled"}


def unit(ledger, location, kind):
    """The Location when it is a `kind` unit (door, lane, bin); raises the Refusal 'not_a_<kind>'."""
    loc = find_location(ledger, location)
    if loc is None or loc.kind != kind:
        raise Refusal("not_a_%s" % kind, "%s is not a %s." % (location, UNIT_WORDS[kind]))
    return loc


def health(ledger, cabinet, hello):
    """The cabinet link (firmware, boot), each door, lane and bin as the firmware reports them. hello: the
    cabinet's last HELLO answer (None before the first)."""
    located = units(ledger)
    link = dict(firmware=hello.firmware if hello else None, boot_id=hello.boot_id if hello else None)
    try:
        status = cabinet.status()
    except LinkError as e:
        return dict(link=dict(link, online=False, message=str(e)), doors=[], lanes=[], bins=[])
    return dict(
        link=dict(link, online=True, events_lost=status.events_lost),
        doors=[dict(door=n, location=located.get(("door", n)), state=word(DoorState, s))
               for n, s in enumerate(status.doors, 1)],
        lanes=[dict(lane=n, location=located.get(("lane", n)), state=LANE_WORDS.get(s, "state %d" % s))
               for n, s in enumerate(status.lanes, 1)],
        bins=[dict(bin=n, location=located.get(("bin", n)), stable=bool(b.flags & BinFlag.STABLE),
                   calibrated=bool(b.flags & BinFlag.CALIBRATED), weight_mg=b.weight_mg)
              for n, b in enumerate(status.bins, 1)])


def test_door(ledger, cabinet, person, location):
    """Pulse a door's latch to see it open (quantity 0: nothing charged)."""
    return _self_test(ledger, cabinet, person, unit(ledger, location, "door"), 0)


def test_lane(ledger, cabinet, person, location):
    """One test turn of a lane, home to home; an item that drops is recorded as taken by the installer."""
    return _self_test(ledger, cabinet, person, unit(ledger, location, "lane"), 1)


def _self_test(ledger, cabinet, person, loc, quantity):
    result = IssueResult(loc.id, quantity)
    Actuator(ledger, cabinet).run(loc, quantity, result, dict(user_id=person.user_id, reason="self-test"))
    return result


def reenable_lane(ledger, cabinet, person, location):
    """Re-enable a lane an earlier jam disabled, so that its test turn proves it free (commissioning, after
    the installer freed the spiral): intent 'clear_lane', CLEAR_LANE, outcome, and its jam alert cleared."""
    loc = unit(ledger, location, "lane")
    result = IssueResult(loc.id, 0)
    Actuator(ledger, cabinet).run(loc, None, result, dict(user_id=person.user_id, reason="commissioning: "
                                                          "re-enable lane %d for its test turn" % loc.unit),
                                  action="clear_lane")
    return result


def tare(ledger, cabinet, person, location):
    """Zero an empty weigh bin (intent, TARE, outcome)."""
    return _bin_command(ledger, cabinet, person, unit(ledger, location, "bin"), "tare")


def calibrate(ledger, cabinet, person, location, known_mg):
    """Calibrate a weigh bin with a known weight lying in it (intent, CALIBRATE, outcome). The bin's baseline
    is cleared: the next weighing adopts a new one (weighing.py)."""
    if known_mg <= 0:
        raise ValueError("known_g must be more than 0")
    result = _bin_command(ledger, cabinet, person, unit(ledger, location, "bin"), "calibrate", known_mg)
    if result.ok:
        ledger.db.execute("UPDATE locations SET weight_mg = NULL WHERE id = ?", [location])
    return result


def _bin_command(ledger, cabinet, person, loc, action, known_mg=None):
    result = IssueResult(loc.id, 0)
    reason = "tare" if action == "tare" else "calibrate with %.1f g" % (known_mg / 1000)
    Actuator(ledger, cabinet).run(loc, 0, result, dict(user_id=person.user_id, reason=reason), action=action,
                                  known_mg=known_mg)
    if not result.unknown and result.outcomes != ["done"]:
        raise Refusal("bin_%s_failed" % action, "Bin %d could not be %s (%s). Check the bin is still and try "
                      "again." % (loc.unit, "tared" if action == "tare" else "calibrated", result.outcomes[-1]),
                      detail=result.details[-1] if result.details else None)   # why, as link.codes.BinFailure
    return result


def read_bin(ledger, bins, location):
    """A stable reading of a weigh bin, as weighing.WeighBins `bins` reads one (NotStable when it will not
    settle)."""
    loc = unit(ledger, location, "bin")
    reading = bins.read(loc.unit)
    return dict(location=location, bin=loc.unit, weight_mg=reading.weight_mg, stable=reading.stable,
                calibrated=reading.calibrated)
