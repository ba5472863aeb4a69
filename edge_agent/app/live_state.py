"""What the screen shows as it happens: which doors stand open and what each weigh bin weighs now, kept
from the firmware's own events (door opened/closed, bin changed). Nothing here is stored or charged: the
flows record what moved; this only lets the page say "Door 3 is open" or "Bin 5: 4 taken so far"."""
from edge_agent.link.codes import Event


class LiveCabinet:
    def __init__(self):
        self.open_doors = set()
        self.bin_mg = {}           # bin number -> last weight the firmware reported (mg)

    def seen(self, event):
        f = event.fields
        if f is None:
            return         # an event type this agent does not know, or a malformed payload
        if event.type == Event.DOOR_OPENED:
            self.open_doors.add(f["door"])
        elif event.type == Event.DOOR_CLOSED:
            self.open_doors.discard(f["door"])
        elif event.type == Event.BIN_CHANGED:
            self.bin_mg[f["bin"]] = f["weight_mg"]
        elif event.type == Event.BOOT:
            self.open_doors.clear()      # a rebooted board starts closed and reports an open door afresh

    def seed(self, status, door_open_state):
        """Start from a STATUS answer (at recovery): the doors open right now, each bin's weight."""
        self.open_doors = {n for n, s in enumerate(status.doors, 1) if s == door_open_state}
        self.bin_mg = {n: b.weight_mg for n, b in enumerate(status.bins, 1)}

    def take_progress(self, take):
        """An open weigh-bin take as the screen shows it: whole pieces moved so far by the live weight (the
        count recorded on Done comes from two agreeing stable readings, not from this)."""
        loc = take.location
        now = self.bin_mg.get(loc.unit)
        piece = loc.piece_weight_mg
        moved = None
        if now is not None and piece:
            delta = now - take.before.weight_mg
            moved = round((delta if take.purpose == "refill" else -delta) / piece)
        return {"location": loc.id, "bin": loc.unit, "purpose": take.purpose, "weight_mg": now,
                "pieces": moved}
