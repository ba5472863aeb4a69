"""Refusals of one kind from one source, coalesced (docs/decisions/0023-bounded-input.md).

A source is who was refused: the user id, or nobody (an unknown badge, an unknown user id) for the cabinet's
anonymous doors. Per (reason, source), a window of `WINDOW_S` opens at the first refusal: the first `BURST`
refusals in it are `refusal` transactions as before (a person refused a few times keeps every row); the rest
are only counted, in memory. When the window is over (the next refusal of that kind, or `flush` from the
agent's housekeeping), a count that is not zero becomes one `refusals_coalesced` event in the events outbox
(docs/mqtt.md): reason, user_id, count, first and last (wall times) and the last one's location and badge,
with `ledger_seq` the last refusal row written for the pair. So a flood of unknown badges writes at most
BURST rows and one event a window, whatever its rate: nothing is fsynced per refused tap.

What is counted and not yet flushed lives in memory: a crash loses at most one window's count (never a
stock or money row: refusals move nothing). The windows use the ledger clock's monotonic reading."""
import logging
import sqlite3
import weakref
from dataclasses import dataclass, field

from edge_agent.ledger.events import insert_event

WINDOW_S = 60
BURST = 5
EVENT = "refusals_coalesced"
log = logging.getLogger(__name__)
_tallies = weakref.WeakKeyDictionary()       # ledger -> {(reason, user_id): Tally}


@dataclass
class Tally:
    start_ms: int
    rows: int = 0                 # refusal rows written in this window
    last_seq: int = None          # the last of them
    count: int = 0                # refusals counted and not written
    first: str = None             # wall time of the first counted one
    last: str = None
    seen: dict = field(default_factory=dict)   # location, badge_id of the last counted one


def record(ledger, row):
    """Put one refusal on record (row: the transaction's fields, with reason): a `refusal` row, or a count
    when the pair's window already holds BURST rows. Returns the row written, or None when counted."""
    tallies = _tallies.setdefault(ledger, {})
    key = (row.get("reason"), row.get("user_id"))
    now = ledger.clock.monotonic_ms()
    tally = tallies.get(key)
    if tally is not None and now - tally.start_ms >= WINDOW_S * 1000:
        _write_event(ledger, key, tally)
        tally = None
    if tally is None:
        tally = tallies[key] = Tally(now)
    if tally.rows < BURST:
        written = ledger.append("refusal", **row)
        tally.rows += 1
        tally.last_seq = written["seq"]
        return written
    wall = ledger.clock.wall()[0]
    tally.count += 1
    tally.first = tally.first or wall
    tally.last = wall
    tally.seen = {name: row.get(name) for name in ("location", "badge_id")}
    return None


def flush(ledger, everything=False):
    """Write the event of every pair whose window is over (everything: of every pair, as the agent stops);
    return how many events were written."""
    tallies = _tallies.get(ledger, {})
    now = ledger.clock.monotonic_ms()
    written = 0
    for key, tally in list(tallies.items()):
        if everything or now - tally.start_ms >= WINDOW_S * 1000:
            written += _write_event(ledger, key, tally)
            del tallies[key]
    return written


def pending(ledger):
    """{(reason, user_id): refusals counted and not yet written} (for a bench or a health view)."""
    return {key: tally.count for key, tally in _tallies.get(ledger, {}).items() if tally.count}


def _write_event(ledger, key, tally):
    """The pair's event, when it counted any. A write that fails (a full disk, a closed ledger) loses the count
    with a warning and raises nothing: it runs in housekeeping and at stop, where an error would stop the
    worker, for refusals that move nothing."""
    if not tally.count:
        return 0
    reason, user_id = key
    try:
        insert_event(ledger, EVENT, tally.last_seq, dict(reason=reason, user_id=user_id, count=tally.count,
                                                         first=tally.first, last=tally.last, **tally.seen))
    except sqlite3.Error as e:
        log.warning("%d %s refusals were counted but their count could not be written: %s", tally.count, reason, e)
        return 0
    return 1
