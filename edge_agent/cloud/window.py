"""One stream's batches in flight: sent, and not yet covered by the cloud's signed ack (docs/decisions/0038).

Several batches may be in flight at once, so a backlog drains at the wire's rate instead of one round trip
per batch; the window bounds how far the agent runs ahead of a cloud that is slow or away. A batch leaves
the window when the cloud's ack covers its last seq. When the oldest batch has waited `timeout_s` with no
ack moving, the whole window is sent again from the ack (the cloud stores idempotently and acks a
contiguous watermark, so a resend never stores a row twice); each timeout in a row doubles the wait (up to
16x), so a cloud that has stopped acknowledging is not sent the same window over and over.
"""
from collections import deque
from dataclasses import dataclass

MAX_BACKOFF = 16


@dataclass
class Sent:
    first_seq: int
    last_seq: int
    rows: int
    mid: int
    sent_at: float


class Window:
    def __init__(self, size, timeout_s):
        self.size = size
        self.timeout_s = timeout_s
        self.batches = deque()
        self.peak = 0                  # the most batches ever in flight at once (stats, tests)
        self.since = None              # when the ack last moved, or the oldest batch was sent
        self.timeouts = 0              # timeouts in a row (the next wait is longer)

    def __len__(self):
        return len(self.batches)

    @property
    def full(self):
        return len(self.batches) >= self.size

    def add(self, first_seq, last_seq, rows, mid, now):
        if not self.batches:
            self.since = now
        self.batches.append(Sent(first_seq, last_seq, rows, mid, now))
        self.peak = max(self.peak, len(self.batches))

    def ack(self, upto_seq, now):
        """The cloud has everything up to upto_seq: those batches are done."""
        moved = False
        while self.batches and self.batches[0].last_seq <= upto_seq:
            self.batches.popleft()
            moved = True
        if moved:
            self.since, self.timeouts = now, 0

    def overdue(self, now):
        """True when the oldest batch has waited too long for an ack: the caller sends the window again."""
        if not self.batches:
            return False
        return now - self.since > self.timeout_s * min(MAX_BACKOFF, 2 ** self.timeouts)

    def restart(self):
        """Forget every batch (they are sent again from the ack); counts a timeout."""
        self.batches.clear()
        self.timeouts += 1

    def clear(self):
        """Forget every batch without counting a timeout (a reconnect, a resend the cloud asked for)."""
        self.batches.clear()
        self.timeouts = 0

    def refused(self, mid):
        """A PUBACK with an error code for mid: that batch and every later one are dropped from the window
        (sent again from its first seq, which is returned); None if mid is not in flight here."""
        for i, sent in enumerate(self.batches):
            if sent.mid == mid:
                while len(self.batches) > i:
                    self.batches.pop()
                return sent.first_seq
        return None


class Budget:
    """A token bucket in rows per second: how fast a backlog may go out (live rows never wait on it). It holds
    at most `burst` rows, so a long idle spell does not let a backlog out all at once."""

    def __init__(self, rows_per_s, burst):
        self.rate = rows_per_s
        self.burst = burst
        self.tokens = burst
        self.at = None

    def refill(self, now):
        if self.at is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now

    @property
    def open(self):
        return self.tokens > 0

    def spend(self, rows):
        self.tokens -= rows             # may go below zero: the next batch waits until it is paid back
