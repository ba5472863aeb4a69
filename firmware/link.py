# The firmware end of the cabinet link: reads frames from the UART, hands requests to the cabinet, sends
# responses, and delivers events reliably: one at a time, oldest first, resent until the host acknowledges.
# It also notices host silence, which the cabinet treats as link loss (every output off).
#
# When the queue overflows, the oldest event not yet sent is dropped and EV_FAULT events lost is owed. That
# fault takes no place in the queue (so no later overflow can drop it): it is built when it is next to go,
# right after the event in flight, with the number of events lost since boot; overflows while it waits or
# flies make one more.
import struct

from firmware import messages as M
from firmware.codec import FrameDecoder, encode_frame
from firmware.ticks import ticks_add, ticks_diff, wait_until


class Link:
    def __init__(self, uart, on_request, now):
        self._uart = uart
        self._on_request = on_request
        self._rx = bytearray(64)
        self._rx_view = memoryview(self._rx)
        self._decoder = FrameDecoder(self._on_frame)
        self._now = now
        self.last_rx = None           # ticks of the last intact frame from the host; None before the first
        self._queue = []              # event payloads not yet acknowledged, oldest first
        self._next_seq = 0
        self._head = None             # the frame in flight: seq is given when an event is first sent, so
        self._head_seq = 0            # events dropped on overflow never leave a gap the host would wait on
        self._head_sent_at = None
        self._head_queued = False     # the frame in flight is _queue[0] (False: an events-lost fault)
        self._lost_owed = False       # events were dropped since the last events-lost fault was built
        self.events_lost = 0

    @property
    def bad_frames(self):
        return self._decoder.bad

    def poll(self, now):
        self._now = now
        uart = self._uart
        while uart.any():
            n = uart.readinto(self._rx)
            if not n:
                break
            self._decoder.feed(self._rx_view[:n])

    def _on_frame(self, seq, kind, payload):
        self.last_rx = self._now
        if kind == M.ACK_EVENT:
            if len(payload) == 1 and self._head is not None and self._head_seq == payload[0]:
                if self._head_queued:
                    self._queue.pop(0)
                self._head = None
                self.step(self._now)        # the next event goes at once
            return
        self._on_request(seq, kind, payload)

    def respond(self, seq, kind, status, body=b""):
        self._uart.write(encode_frame(seq, kind | M.RESPONSE, bytes((status,)) + body))

    def emit(self, ev_type, *fields):
        queue = self._queue
        if len(queue) >= M.EVENT_QUEUE:
            # Keep the one in flight; lose the oldest waiting one, and owe the host an events-lost fault.
            queue.pop(1 if self._head is not None and self._head_queued else 0)
            self.events_lost += 1
            self._lost_owed = True
        queue.append(bytes((ev_type,)) + struct.pack(M.EVENT_FMT[ev_type], *fields))
        if self._head is None:
            self.step(self._now)

    def _lost_fault(self):
        self._lost_owed = False
        return bytes((M.EV_FAULT,)) + struct.pack(M.EVENT_FMT[M.EV_FAULT], M.F_EVENTS_LOST, self.events_lost)

    def step(self, now):
        if self._head is None:
            if self._lost_owed:
                payload = self._lost_fault()
                self._head_queued = False
            elif self._queue:
                payload = self._queue[0]
                self._head_queued = True
            else:
                return
            self._head_seq = self._next_seq
            self._next_seq = (self._next_seq + 1) & 0xFF
            self._head = encode_frame(self._head_seq, M.EVENT, payload)
            self._head_sent_at = None
        sent = self._head_sent_at
        if sent is None or ticks_diff(now, sent) >= M.EVENT_RESEND_MS:
            self._uart.write(self._head)
            self._head_sent_at = now

    def due_in(self, now):
        """Ms until step() sends or resends an event (None: nothing to send); frames come as inputs."""
        if self._head is None:
            return 0 if (self._lost_owed or self._queue) else None
        if self._head_sent_at is None:
            return 0
        return wait_until(ticks_add(self._head_sent_at, M.EVENT_RESEND_MS), now)

    def silent_in(self, now):
        """Ms until host_silent() turns true (None: no frame yet, so it never does)."""
        if self.last_rx is None:
            return None
        return wait_until(ticks_add(self.last_rx, M.LINK_TIMEOUT_MS), now)

    def send_all(self):
        """Last words before a reset: every queued event once, in seq order, without waiting for acks (the
        host delivers consecutive seqs in turn). Nothing is resent: the board is about to restart."""
        if self._head is not None:
            self._uart.write(self._head)
            if self._head_queued:
                self._queue.pop(0)
            self._head = None
        if self._lost_owed:
            self._queue.insert(0, self._lost_fault())
        for payload in self._queue:
            seq = self._next_seq
            self._next_seq = (seq + 1) & 0xFF
            self._uart.write(encode_frame(seq, M.EVENT, payload))
        self._queue = []

    def host_silent(self, now):
        return self.last_rx is not None and ticks_diff(now, self.last_rx) >= M.LINK_TIMEOUT_MS
