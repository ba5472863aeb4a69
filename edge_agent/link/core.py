"""The host end of the cabinet link as a sans-IO engine: no port, no threads, no clock.

Every method takes `now` (monotonic milliseconds, int or float, supplied by the caller). The driver feeds
received bytes to `receive`, writes whatever `poll` returns, and calls `poll` again by `next_deadline()`.

What it does (docs/protocol.md):
- stop-and-wait requests: one outstanding, seq +1 per new request, retransmission of the identical frame on
  an adaptive timeout until the request's time budget is spent;
- events: in-order, exactly-once delivery (event_order.py decides which) with acknowledgements that never
  occupy the request slot, or (`ack_when_stored`) once the caller has stored the event (`event_stored`);
- a PING whenever the host has sent nothing for `heartbeat_ms`, so the firmware keeps its outputs enabled;
- the firmware's boot id, from HELLO and EV_BOOT, and reboot notices to running operations;
- which vends the drop beam saw an item fall for (EV_DROP), so an outcome a reset cut off can be reconciled.
Requests and actuations are `link_ops` operations that this engine hosts and steps.
"""
from collections import OrderedDict, deque
from dataclasses import dataclass

from firmware import messages as M
from firmware.codec import MAX_PAYLOAD, FrameDecoder, encode_frame
from edge_agent.link.errors import LinkError, LinkTimeout
from edge_agent.link.event_order import DUPLICATE, GAP_RESYNC_AFTER, HOLD, EventSequencer, HeldAcks
from edge_agent.link.messages import decode_event, query_payload
from edge_agent.link.names import kind_name
from edge_agent.link.ops import Actuation, Call
from edge_agent.link.retransmit import RTO_INITIAL_MS, RetransmitTimer  # noqa: F401 - RTO_INITIAL_MS for callers

REQUEST_BUDGET_MS = 5000
HEARTBEAT_MS = 500
UNSETTLED_KEPT = 1024    # command ids with an unknown outcome remembered, to refuse resending them to a new boot
DROPS_KEPT = 1024        # command ids of vends whose drop an EV_DROP reported, for reconciling a lost outcome


@dataclass
class LinkStats:
    frames_sent: int = 0
    retransmissions: int = 0
    frames_received: int = 0
    bad_frames: int = 0            # damaged frames dropped by the decoder
    stale_responses: int = 0       # intact responses that matched no outstanding request
    unexpected_frames: int = 0     # intact frames of a kind the host never receives
    request_timeouts: int = 0
    heartbeats: int = 0
    heartbeat_timeouts: int = 0
    events_delivered: int = 0
    event_duplicates: int = 0
    events_held: int = 0           # future-seq events not delivered (yet)
    events_skipped: int = 0        # seqs given up on by the gap resync
    acks_sent: int = 0
    reboots_seen: int = 0


class Exchange:
    """One request on the stop-and-wait slot, from submission to its answer, timeout or cancellation."""

    def __init__(self, kind, payload, deadline, owner=None, heartbeat=False):
        self.kind = kind
        self.payload = bytes(payload)
        self.deadline = deadline
        self.owner = owner
        self.heartbeat = heartbeat
        self.seq = None
        self.frame = None             # fixed when first sent: every retransmission is these exact bytes
        self.sends = 0
        self.first_sent = None
        self.damaged_seen = 0         # the decoder's damaged-frame count at the last send
        self.retransmit_at = None
        self.done = False
        self.status = None
        self.body = None
        self.error = None


class LinkCore:
    """Start work with call()/query()/actuate(); feed bytes to receive(); write what poll() returns; call poll()
    again by next_deadline(); collect events with take_events(). A request's time budget runs from when it
    is submitted, so one queued behind a dead link fails on time too."""

    def __init__(self, now=0, *, request_budget_ms=REQUEST_BUDGET_MS, heartbeat_ms=HEARTBEAT_MS,
                 timer=None, first_seq=0, gap_resync_after=GAP_RESYNC_AFTER, ack_when_stored=False):
        self.request_budget_ms = request_budget_ms
        self.heartbeat_ms = heartbeat_ms      # None: no keep-alive pings (tests of other things)
        self.timer = timer or RetransmitTimer()
        self.boot_id = None
        self.last_rx = None                   # time of the last intact frame from the firmware
        self._stats = LinkStats()
        self._now = now
        self._last_tx = now
        self._next_seq = first_seq & 0xFF
        self._queue = deque()
        self._current = None
        self._acks = []
        self._events = deque()
        self._ops = []
        self._unsettled = OrderedDict()       # cmd_id -> boot id it was sent to, until its outcome is known
        self._drops = OrderedDict()           # cmd_id -> lane, for every EV_DROP delivered (the newest kept)
        self._held = HeldAcks(ack_when_stored)   # True, or the event types the caller stores (event_order.py)
        self._sequencer = EventSequencer(gap_resync_after)
        self._decoder = FrameDecoder(self._on_frame)

    # ---- operations: what callers start -------------------------------------------------------------

    def call(self, kind, payload, now, budget_ms=None):
        """A request that is safe to repeat (HELLO, PING, STATUS, READ_BIN, QUERY). Returns a `Call`."""
        return self._host(Call(self, kind, payload, now, self._budget(budget_ms)))

    def query(self, cmd_id, now, budget_ms=None):
        return self.call(M.QUERY, query_payload(cmd_id), now, budget_ms)

    def actuate(self, kind, cmd_id, args, now, timeout_ms, **tuning):
        """An actuation with a caller-chosen, durably saved cmd_id. Returns an `Actuation`; its result is a
        CommandResult once DONE. Needs the boot id (say HELLO first). tuning: see link_ops.Actuation.

        Refuses (LinkError) a cmd_id whose outcome is unknown on an earlier boot: the new boot's replay table
        does not know it, so sending it again could actuate twice. The caller reconciles instead."""
        sent_to = self._unsettled.get(cmd_id)
        if sent_to is not None and self.boot_id is not None and sent_to != self.boot_id:
            raise LinkError("cmd %d went to boot 0x%08X, which has restarted since: reconcile its outcome, "
                            "never resend it" % (cmd_id, sent_to))
        return self._host(Actuation(self, kind, cmd_id, args, now, timeout_ms, **tuning))

    def drop_seen(self, cmd_id):
        """True when the firmware reported (EV_DROP) an item falling during vend cmd_id: the item came out,
        whatever became of the vend's result. Known for the last DROPS_KEPT such vends of this link."""
        return cmd_id in self._drops

    @property
    def stats(self):
        self._stats.bad_frames = self._decoder.bad
        self._stats.events_skipped = self._sequencer.skipped
        return self._stats

    @property
    def rto_ms(self):
        return self.timer.rto

    @property
    def busy(self):
        """True while a request is outstanding or queued."""
        return self._current is not None or bool(self._queue)

    # ---- the wire -----------------------------------------------------------------------------------

    def receive(self, data, now):
        self._now = now
        self._decoder.feed(data)

    def poll(self, now):
        """Bytes to write now: event acknowledgements, a new request or a retransmission, a heartbeat."""
        self._now = now
        if self._ops:
            self._step_operations(now)
        out = bytearray()
        if self._acks:
            for seq in self._acks:
                out += self._frame(M.ACK_EVENT, bytes((seq,)))[1]
                self._stats.acks_sent += 1
            self._acks.clear()
        self._service_slot(now, out)
        if (self.heartbeat_ms is not None and not out and not self.busy
                and now - self._last_tx >= self.heartbeat_ms):
            self._stats.heartbeats += 1
            self._queue.append(Exchange(M.PING, b"", now + self.request_budget_ms, heartbeat=True))
            self._service_slot(now, out)
        if out:
            self._last_tx = now
        return bytes(out)

    def next_deadline(self):
        """The time by which poll() must be called again (None: only when bytes arrive)."""
        # Called before every poll of a simulated cabinet's pass: a running minimum, no list.
        due = None
        if self._acks or (self._current is None and self._queue):
            due = self._now
        if self._current is not None:
            t = self._current.retransmit_at
        else:
            t = None if self.heartbeat_ms is None else self._last_tx + self.heartbeat_ms
        if t is not None and (due is None or t < due):
            due = t
        for op in self._ops:
            t = op.deadline()
            if t is not None and not op.done and (due is None or t < due):
                due = t
        return due

    def take_events(self):
        """Events delivered since the last call, in order (acknowledged; with ack_when_stored, once stored)."""
        events = list(self._events)
        self._events.clear()
        return events

    def event_stored(self, event):
        """`event` is stored: acknowledge it now if its acknowledgement was held; returns whether it was."""
        return self._held.release(event) and not self._acks.append(event.seq)

    def event_not_stored(self, event):
        """`event` could not be stored: it is delivered again when the firmware resends it."""
        if self._held.release(event):
            self._sequencer.rewind(event.seq, event.type == M.EV_BOOT)

    def close(self, error):
        """Fail every running operation with `error` and drop every request."""
        for op in list(self._ops):
            op.fail(error)
        self._ops.clear()
        self._queue.clear()
        self._current = None

    # ---- used by operations -------------------------------------------------------------------------

    def submit(self, kind, payload, now, budget_ms, owner=None):
        """Queue one request; owner.on_answer(exchange, now) is called when it is answered or times out."""
        if len(payload) > MAX_PAYLOAD:
            raise ValueError("payload of %d bytes exceeds %d" % (len(payload), MAX_PAYLOAD))
        self._now = now
        exchange = Exchange(kind, payload, now + budget_ms, owner)
        if self._current is not None and self._current.heartbeat:
            self._current = None   # a keep-alive must not delay real work; its late answer is just stale
        self._queue.append(exchange)
        return exchange

    def cancel(self, exchange):
        if exchange is self._current:
            self._current = None
        elif exchange in self._queue:
            self._queue.remove(exchange)
        exchange.done = True

    def note_unsettled(self, cmd_id, boot_id):
        self._unsettled[cmd_id] = boot_id
        self._unsettled.move_to_end(cmd_id)
        while len(self._unsettled) > UNSETTLED_KEPT:
            self._unsettled.popitem(last=False)

    def note_settled(self, cmd_id):
        self._unsettled.pop(cmd_id, None)

    def observe_boot(self, boot_id, now):
        old = self.boot_id
        self.boot_id = boot_id
        if old is not None and old != boot_id:
            self._reboot(old, boot_id, now)

    def mark_boot_stale(self, boot_id, now):
        """E_WRONG_BOOT for a frame carrying boot_id: the firmware has rebooted; the new id is not known yet."""
        if self.boot_id == boot_id:
            self.boot_id = None
            self._reboot(boot_id, None, now)

    # ---- internals ----------------------------------------------------------------------------------

    def _budget(self, budget_ms):
        return self.request_budget_ms if budget_ms is None else budget_ms

    def _host(self, op):
        if not op.done:
            self._ops.append(op)
        return op

    def _reboot(self, old, new, now):
        self._stats.reboots_seen += 1
        for op in list(self._ops):
            if not op.done:
                op.on_reboot(old, new, now)

    def _frame(self, kind, payload):
        # Every frame the host originates, acknowledgements included, takes a fresh seq; retransmissions reuse.
        seq = self._next_seq
        self._next_seq = (seq + 1) & 0xFF
        self._stats.frames_sent += 1
        return seq, encode_frame(seq, kind, payload)

    def _step_operations(self, now):
        for op in self._ops:             # most polls: no timer due, nothing to run or drop
            if op.done:
                break
            deadline = op.deadline()
            if deadline is not None and now >= deadline:
                break
        else:
            return
        for op in list(self._ops):
            deadline = op.deadline()
            if not op.done and deadline is not None and now >= deadline:
                op.on_timer(now)
        self._ops = [op for op in self._ops if not op.done]

    def _service_slot(self, now, out):
        while True:
            ex = self._current
            if ex is None:
                if not self._queue:
                    return
                ex = self._queue.popleft()
                if now >= ex.deadline:
                    self._time_out(ex, now)
                    continue
                ex.seq, ex.frame = self._frame(ex.kind, ex.payload)
                ex.sends, ex.first_sent, ex.damaged_seen = 1, now, self._decoder.bad
                ex.retransmit_at = min(now + self.timer.rto, ex.deadline)
                self._current = ex
                out += ex.frame
                return
            if now < ex.retransmit_at:
                return
            if now >= ex.deadline:
                self._current = None
                self._time_out(ex, now)
                continue
            if self._decoder.bad > ex.damaged_seen:
                self.timer.restore()      # the firmware answers, the line broke it: resend, no slower
            else:
                self.timer.backoff()      # silence: the firmware may be slow
            ex.damaged_seen = self._decoder.bad
            ex.sends += 1
            ex.retransmit_at = min(now + self.timer.rto, ex.deadline)
            self._stats.frames_sent += 1
            self._stats.retransmissions += 1
            out += ex.frame
            return

    def _time_out(self, ex, now):
        if ex.heartbeat:
            self._stats.heartbeat_timeouts += 1
        else:
            self._stats.request_timeouts += 1
        ex.error = LinkTimeout("%s: no answer within its budget (%d sends)" % (kind_name(ex.kind), ex.sends))
        self._finish(ex, now)

    def _finish(self, ex, now):
        ex.done = True
        if ex.owner is not None:
            ex.owner.on_answer(ex, now)

    def _on_frame(self, seq, kind, payload):
        now = self._now
        self.last_rx = now
        self._stats.frames_received += 1
        if kind == M.EVENT:
            self._on_event(seq, payload, now)
        elif kind & M.RESPONSE:
            self._on_response(seq, kind, payload, now)
        else:
            self._stats.unexpected_frames += 1

    def _on_response(self, seq, kind, payload, now):
        ex = self._current
        if ex is None or seq != ex.seq or kind != ex.kind | M.RESPONSE or not payload:
            self._stats.stale_responses += 1
            return
        self._current = None
        if ex.sends == 1:
            self.timer.sample(now - ex.first_sent)
        ex.status, ex.body = payload[0], bytes(payload[1:])
        self._finish(ex, now)

    def _on_event(self, seq, payload, now):
        event = decode_event(seq, payload)
        boot_id = event.fields["boot_id"] if event.type == M.EV_BOOT and event.fields else None
        verdict = self._sequencer.offer(seq, boot_id)
        if verdict == HOLD:
            self._stats.events_held += 1
            return
        if verdict == DUPLICATE:
            self._stats.event_duplicates += 1
            if not self._held.holds(seq) and seq not in self._acks:
                self._acks.append(seq)   # stored (or never held) before: its acknowledgement was lost
            return
        self._stats.events_delivered += 1
        self._events.append(event)
        if not self._held.delivered(event, boot_id is not None) and seq not in self._acks:
            self._acks.append(seq)
        if event.type == M.EV_DROP and event.fields:
            self._drops[event.fields["cmd_id"]] = event.fields["lane"]
            while len(self._drops) > DROPS_KEPT:
                self._drops.popitem(last=False)
        if boot_id is not None:
            self.observe_boot(boot_id, now)
        for op in list(self._ops):
            if not op.done:
                op.on_event(event, now)
