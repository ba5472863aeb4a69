"""Refusals of one kind from one source, coalesced (docs/decisions/0023-bounded-input.md).

A source is who was refused: the user id, or nobody (an unknown badge, an unknown user id) for the cabinet's
anonymous doors. Per (reason, source) a token bucket (coalesce.py, the cloud's refused down messages use the
same): the first `BURST` refusals are `refusal` transactions as before (a person refused a few times keeps
every row, and the bucket refills one a minute); past them refusals are only counted, in memory, and the
count becomes one `refusals_coalesced` event in the events outbox (docs/mqtt.md) at most once a `WINDOW_S`:
reason, user_id, count, first and last (wall times) and the last one's location and badge, with `ledger_seq`
the last refusal row written for the pair. So a flood of unknown badges writes BURST rows and then one event
a minute, whatever its rate: nothing is fsynced per refused tap.

What is counted and not yet written lives in memory: a crash loses at most one window's count (never a
stock or money row: refusals move nothing). The buckets use the ledger clock's monotonic reading."""
import logging
import sqlite3
import weakref

from edge_agent.ledger.coalesce import Coalescer
from edge_agent.ledger.errors import LedgerError
from edge_agent.ledger.events import insert_event

WINDOW_S = 60
BURST = 5
EVENT = "refusals_coalesced"
SEEN = ("location", "badge_id")          # of the last one counted, in the event
log = logging.getLogger(__name__)
_tallies = weakref.WeakKeyDictionary()   # ledger -> Tally


class Tally:
    def __init__(self, ledger):
        self.coalescer = Coalescer(lambda: ledger.clock.monotonic_ms() / 1000, BURST, 1 / WINDOW_S)
        self.last_seq = {}               # (reason, user_id) -> the last refusal row written for it


def _tally(ledger):
    tally = _tallies.get(ledger)
    if tally is None:
        tally = _tallies[ledger] = Tally(ledger)
    return tally


def record(ledger, row):
    """Put one refusal on record (row: the transaction's fields, with reason): a `refusal` row, or a count
    when the pair's burst is spent. Returns the row written, or None when counted."""
    tally = _tally(ledger)
    key = (row.get("reason"), row.get("user_id"))
    if tally.coalescer.admit(key, ledger.clock.wall()[0], {name: row.get(name) for name in SEEN}):
        written = ledger.append("refusal", **row)
        tally.last_seq[key] = written["seq"]
        return written
    return None


def flush(ledger, everything=False):
    """Write the event of every pair whose count is due (everything: of every pair, as the agent stops);
    return how many events were written."""
    tally = _tallies.get(ledger)
    if tally is None:
        return 0
    return sum(_write_event(ledger, key, tally.last_seq.get(key), fields)
               for key, fields in tally.coalescer.due(everything))


def pending(ledger):
    """{(reason, user_id): refusals counted and not yet written} (for a bench or a health view)."""
    tally = _tallies.get(ledger)
    return tally.coalescer.pending_counts() if tally else {}


def _write_event(ledger, key, last_seq, fields):
    """The pair's event. A write that fails (a full disk, a closed ledger) loses the count with a warning and
    raises nothing: it runs in housekeeping and at stop, where an error would stop the worker, for refusals
    that move nothing."""
    reason, user_id = key
    try:
        insert_event(ledger, EVENT, last_seq, dict(fields, reason=reason, user_id=user_id))
    except (sqlite3.Error, LedgerError) as e:    # LedgerUnwritable: the disk is full
        log.warning("%d %s refusals were counted but their count could not be written: %s",
                    fields["count"], reason, e)
        return 0
    return 1
