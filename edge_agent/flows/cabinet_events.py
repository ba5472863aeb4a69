"""What the firmware reports on its own, turned into alerts a supervisor sees: a door forced open, a door
left open (cleared when it closes), a cabinet fault (one kind per fault code). Stock never changes here:
only the flows move stock, and bin changes are counted by the weigh-bin flow (weighing.py) from stable
readings, not from events.

An event is acknowledged to the firmware only once it is stored (docs/protocol.md, "Events"): the link hands
it on unacknowledged, take_events records it in a committed SQLite transaction, then tells the link
(`event_stored`); the firmware keeps resending it until then, so an agent that dies in between gets it again.

Faults (docs/alerts.md): an exception, an output cut at its cap, events lost each raise their own kind, ended
by a supervisor's acknowledgement (the firmware never says a fault is over: each is something that happened).
A link-lost fault raises nothing: the firmware raises it when it has not heard the host for 2 s, so every
restart of the agent causes one, and by the time it arrives the link is back; a line outage while the agent
runs is the agent's own to see (its requests fail, the commands it cut end as aborted outcomes)."""
import logging

from edge_agent.ledger.alerts import clear_alert, raise_alert
from edge_agent.link.codes import Event, Fault

log = logging.getLogger(__name__)

FAULT_KINDS = {Fault.EXCEPTION: ("cabinet_exception", "the cabinet's controller failed and restarted (detail %d)"),
               Fault.OUTPUT_CAPPED: ("cabinet_output_capped", "an output was cut at its time cap (GPIO %d)"),
               Fault.EVENTS_LOST: ("cabinet_events_lost", "the cabinet dropped %d events since its boot: doors "
                                                          "opened or forced meanwhile may be missing")}
# The events record_event stores: the agent's link holds their acknowledgement until they are (the rest, a
# drop, a command done, a door opened by its unlock, go at once: a vend waits on its EV_CMD_DONE, which the
# firmware sends only after the events before it are acknowledged, while the worker is busy with the vend).
STORED = (Event.DOOR_FORCED, Event.DOOR_LEFT_OPEN, Event.DOOR_CLOSED, Event.FAULT)
NEXT_EVENT_WAIT_S = 0.05   # after one is stored the firmware sends the next at once: wait this long for it


def take_events(ledger, cabinet, seen=None):
    """Record every event the cabinet link has queued (a cabinet without next_event has none), each
    acknowledged to the firmware once stored; seen(event) is told of each after it is stored (the screen's
    live state). An event that cannot be stored is given back to the link, which takes it again."""
    take = getattr(cabinet, "next_event", None)
    if take is None:
        return
    stored = getattr(cabinet, "event_stored", None)
    wait = 0
    while True:
        event = take(wait)
        if event is None:
            return
        try:
            record_event(ledger, event)
        except Exception:
            give_back = getattr(cabinet, "event_not_stored", None)
            if give_back is not None:
                give_back(event)
            raise
        if stored is not None and stored(event):
            wait = NEXT_EVENT_WAIT_S      # acknowledged just now: the firmware's next event comes at once
        if seen is not None:
            seen(event)


def record_event(ledger, event):
    f = event.fields
    if f is None:
        return             # a type this agent does not know, or a malformed payload: acknowledged, not recorded
    door = "D%d" % f["door"] if "door" in f else None
    if door and not ledger.db.execute("SELECT 1 FROM locations WHERE id = ?", [door]).fetchone():
        door = None        # a door the layout does not list: the alert's detail still names it
    wall = ledger.clock.wall()[0]
    with ledger.transaction():
        if event.type == Event.DOOR_FORCED:
            raise_alert(ledger.db, door, "door_forced", "door %d opened without an unlock" % f["door"], None, wall)
        elif event.type == Event.DOOR_LEFT_OPEN:
            raise_alert(ledger.db, door, "door_left_open", "door %d open %d s" % (f["door"], f["open_s"]),
                        None, wall)
        elif event.type == Event.DOOR_CLOSED:
            clear_alert(ledger.db, door, "door_left_open", None, wall)
        elif event.type == Event.FAULT:
            record_fault(ledger, f["code"], f["detail"], wall)


def record_fault(ledger, code, detail, wall):
    if code == Fault.LINK_LOST:
        log.info("the cabinet reports it did not hear the agent for 2 s (a restart, or the line was down)")
        return
    kind, words = FAULT_KINDS.get(code, ("cabinet_fault", "fault %d detail %%d" % code))
    raise_alert(ledger.db, None, kind, words % detail, None, wall)
