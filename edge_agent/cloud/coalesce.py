"""Refusals of down messages, coalesced and rate limited (docs/mqtt.md, "Limits"; decision 0027).

Every refused or duplicate down message is a `command_result` event, a durable outbox row. A cloud holding
the wrong key, two cabinets sharing one id, or anyone replaying old messages would otherwise write one row
per message (693 a minute were measured). Results are grouped by (status, reason), each group with a token
bucket: the first `BURST` are recorded one by one, each with its command's id; after that one row per
`1 / RATE_PER_S` seconds at most, the next ones being counted, and the count recorded as one row with
`count`, `first` and `last` (wall times) and the id of the last of them. Nothing is dropped: what is
pending when the agent stops is recorded then.
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
        """Summary rows to record now, as command_result fields (`everything`: all pending, at a stop)."""
        rows = []
        for key in list(self.buckets):
            bucket = self._bucket(key)
            if bucket.pending is None or (bucket.tokens < 1 and not everything):
                continue
            bucket.tokens = max(0.0, bucket.tokens - 1)
            p, bucket.pending = bucket.pending, None
            rows.append(dict(p.fields, count=p.count, first=p.first, last=p.last))
        return rows
