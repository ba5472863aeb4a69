"""What the firmware reports on its own, turned into alerts a supervisor sees: a door forced open, a door
left open (cleared when it closes), a cabinet fault. Stock never changes here: only the flows move stock,
and bin changes are counted by the weigh-bin flow (weighing.py) from stable readings, not from events."""
from edge_agent.ledger.alerts import clear_alert, raise_alert
from edge_agent.link.codes import Event


def take_events(ledger, cabinet, seen=None):
    """Record every event the cabinet link has queued (a cabinet without next_event has none); seen(event)
    is told of each after it is stored (the screen's live state)."""
    take = getattr(cabinet, "next_event", None)
    if take is None:
        return
    while True:
        event = take(0)
        if event is None:
            return
        record_event(ledger, event)
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
            raise_alert(ledger.db, None, "cabinet_fault", "fault %d detail %d" % (f["code"], f["detail"]),
                        None, wall)
