"""Which events from the firmware the host delivers, in order and exactly once (docs/protocol.md, "Events
(firmware to host)").

The firmware resends its oldest unacknowledged event until it is acknowledged, so the host sees repeats of
events it already delivered (their acknowledgement was lost) and, after a loss, events from past a gap.
`EventSequencer.offer` says for each received event whether to deliver it, acknowledge it again as a
duplicate, or hold it (not acknowledged: the firmware sends it again). LinkCore acknowledges and delivers."""
from firmware import messages as M

# A future event seq repeated this many times (the firmware resends every 250 ms) is taken as a gap.
GAP_RESYNC_AFTER = 4

DELIVER, DUPLICATE, HOLD = "deliver", "duplicate", "hold"


class EventSequencer:
    """Decides, per received event, whether to deliver it, re-acknowledge it as a duplicate, or hold off."""

    def __init__(self, resync_after=GAP_RESYNC_AFTER):
        self.expected = None          # None until the first event: a fresh agent takes whatever comes first
        self.skipped = 0
        self._resync_after = resync_after
        self._boot_id = None          # boot id of the last EV_BOOT delivered
        self._held_seq = None
        self._held_count = 0

    def offer(self, seq, boot_id=None):
        """boot_id: set for an EV_BOOT event, None for any other."""
        if boot_id is not None:
            if boot_id == self._boot_id:
                return DUPLICATE
            self._boot_id = boot_id
            return self._accept(seq)
        if self.expected is None or seq == self.expected:
            return self._accept(seq)
        if 1 <= (self.expected - seq) & 0xFF <= M.EVENT_QUEUE:
            return DUPLICATE
        # The firmware only ever sends its oldest unacknowledged event, so a future seq that keeps coming
        # back means the ones before it are gone; waiting longer would stall every event after it.
        if seq == self._held_seq:
            self._held_count += 1
        else:
            self._held_seq, self._held_count = seq, 1
        if self._held_count >= self._resync_after:
            self.skipped += (seq - self.expected) & 0xFF
            return self._accept(seq)
        return HOLD

    def rewind(self, seq, boot=False):
        """Event seq was delivered but could not be stored: deliver it again when it comes back."""
        self.expected = seq
        if boot:
            self._boot_id = None

    def _accept(self, seq):
        self.expected = (seq + 1) & 0xFF
        self._held_seq, self._held_count = None, 0
        return DELIVER


class HeldAcks:
    """The acknowledgements LinkCore holds until the caller has stored the event (docs/protocol.md): for
    `types` True every event, for a collection of event types those, for False none. One boot's events:
    a new boot forgets the old boot's (their seqs now number the new boot's events)."""

    def __init__(self, types=False):
        self.types = types if isinstance(types, bool) else frozenset(types)
        self._held = {}               # seq -> the event delivered, not stored yet

    def delivered(self, event, new_boot=False):
        """Whether to hold this event's acknowledgement (False: acknowledge it now)."""
        if new_boot:
            self._held.clear()
        if self.types is True or (self.types and event.type in self.types):
            self._held[event.seq] = event
            return True
        return False

    def holds(self, seq):
        return seq in self._held

    def release(self, event):
        """Stop holding this very event (not another of the same seq); returns whether it was held."""
        if self._held.get(event.seq) is not event:
            return False
        del self._held[event.seq]
        return True
