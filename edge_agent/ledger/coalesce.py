"""Refusals of one kind from one source, coalesced and rate limited: one mechanism for the ledger's
refusals (refusal_tally.py, decision 0023) and the cloud's refused down messages (cloud/commands.py,
docs/mqtt.md "Limits", decision 0027).

A flood would otherwise write one durable row per refusal (377 unknown badges a second were measured at the
API, 693 badly signed down messages a minute from a cloud holding the wrong key). Refusals are grouped by a
key, each group with a token bucket: the first `burst` are recorded one by one, as before; after that the
next ones are only counted, and the count becomes one summary row with `count`, `first` and `last` (wall
times) and the last one's fields, at most one per `1 / rate_per_s` seconds. Nothing is dropped: what is
pending when the agent stops is recorded then (`due(everything=True)`). Pure logic on an injected clock.
"""
from dataclasses import dataclass

BURST = 5             # rows recorded at once for one (status, reason) before the rate applies
RATE_PER_S = 0.1      # then at most one row per 10 s per (status, reason)


@dataclass
class Pending:
    count: int
    first: str            # wall times of the first and last counted result
    last: str
    fields: dict          # the last one's command_result fields


@dataclass
class Bucket:
    tokens: float
    at: float
    pending: Pending = None


class Coalescer:
    def __init__(self, clock, burst=BURST, rate_per_s=RATE_PER_S):
        self.clock = clock
        self.burst = burst
        self.rate_per_s = rate_per_s
        self.buckets = {}

    def _bucket(self, key):
        now = self.clock()
        bucket = self.buckets.setdefault(key, Bucket(self.burst, now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate_per_s)
        bucket.at = now
        return bucket

    def admit(self, key, wall, fields):
        """True: record this result now. False: it was counted into the group's next summary row."""
        bucket = self._bucket(key)
        if bucket.pending is None and bucket.tokens >= 1:
            bucket.tokens -= 1
            return True
        if bucket.pending is None:
            bucket.pending = Pending(0, wall, wall, fields)
        bucket.pending.count += 1
        bucket.pending.last, bucket.pending.fields = wall, fields
        return False

    def due(self, everything=False):
        """[(key, summary fields)] to record now: the last one's fields with count, first and last
        (`everything`: all pending, at a stop)."""
        rows = []
        for key in list(self.buckets):
            bucket = self._bucket(key)
            if bucket.pending is None or (bucket.tokens < 1 and not everything):
                continue
            bucket.tokens = max(0.0, bucket.tokens - 1)
            p, bucket.pending = bucket.pending, None
            rows.append((key, dict(p.fields, count=p.count, first=p.first, last=p.last)))
        return rows

    def pending_counts(self):
        """{key: refusals counted and not yet in a summary}."""
        return {key: b.pending.count for key, b in self.buckets.items() if b.pending is not None}
