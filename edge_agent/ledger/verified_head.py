"""The verified head: where the last passing `verify` stopped, so the next one goes on from there instead of
walking a million rows again (schema_v8, docs/decisions/0050-append-path-and-incremental-verify.md).

It is the seq and hash of the last row checked and what the log gave at that row (on hand per location, the
intents then pending), so an incremental check replays only the rows after it. Where the walk starts:
- at the verified head's own row, which is hashed again (an edit of it shows, and its hash must still be the
  one verify saw: a rewrite at or before it that recomputed every later hash shows too);
- or earlier, at the row the cloud last acknowledged, when the cabinet has reached a cloud that has not
  acknowledged as far: rows the cloud does not hold yet have nothing outside the file vouching for them, so
  they are walked every time.
An edit of a row before the start that leaves its hash alone is found by `verify --full` (from seq 1), as
before. The head is in the same file as what it vouches for: whoever can edit the file can delete it (the
next check is then a full one) or move it; what proves is the cloud's copy (docs/decisions/0025).
"""
import json
import logging
import sqlite3
from dataclasses import dataclass
from typing import Optional

from edge_agent.ledger.errors import LedgerUnwritable
from edge_agent.ledger.integrity import Replay
from edge_agent.ledger.migrations import schema_version

VERSION = 8     # the schema version with the verified_head table

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Head:
    replay: Replay              # seq, on hand and pending intents at the verified row
    hash: str
    verified_wall: str
    full_wall: Optional[str]    # when the last full check passed (None: none since schema 8)


def load(db):
    """The verified head, or None (never verified, or a ledger before schema 8)."""
    if schema_version(db) < VERSION:
        return None
    row = db.execute("SELECT seq, hash, on_hand, pending, verified_wall, full_wall FROM verified_head "
                     "WHERE id = 1").fetchone()
    if row is None:
        return None
    seq, hash_, on_hand, pending, verified_wall, full_wall = row
    try:
        replayed = Replay(seq, {str(k): int(v) for k, v in json.loads(on_hand).items()},
                          frozenset(int(s) for s in json.loads(pending)))
    except (AttributeError, TypeError, ValueError):
        log.warning("the verified head is unreadable (edited?): this check walks from seq 1")
        return None
    return Head(replayed, hash_, verified_wall, full_wall)


def problems(db, head):
    """The verified row must still be there with the hash verify saw."""
    seq = head.replay.seq
    row = db.execute("SELECT hash FROM transactions WHERE seq = ?", [seq]).fetchone()
    if row is None:
        return ["seq %d, verified %s, is gone (rows deleted from the end and the head rolled back)"
                % (seq, head.verified_wall)]
    if row[0] != head.hash:
        return ["seq %d does not have the hash it had when verified %s (%s...): the chain was rewritten at or "
                "before it" % (seq, head.verified_wall, head.hash[:12])]
    return []


def first_seq(db, head):
    """Where an incremental walk starts: the verified row, or the cloud's last acknowledged row when the
    cabinet has reached a cloud (a session counted) that has not acknowledged as far."""
    state = db.execute("SELECT session, tx_acked FROM cloud_state WHERE id = 1").fetchone()
    if state is None or state[0] == 0:
        return head.replay.seq
    return max(1, min(head.replay.seq, state[1]))


def store(ledger, head_hash, replayed, full):
    """Keep row replayed.seq (hash head_hash) as the verified head, unless a later one is kept already. A
    ledger that cannot be written now (a read-only copy, the agent holding the lock) keeps the old head: the
    result stands, the next check starts further back."""
    if replayed.seq < 1 or schema_version(ledger.db) < VERSION:
        return
    wall = ledger.clock.wall()[0]
    try:
        with ledger.transaction():
            ledger.conn.execute(
                "INSERT INTO verified_head (id, seq, hash, on_hand, pending, verified_wall, full_wall) "
                "VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, "
                "hash = excluded.hash, on_hand = excluded.on_hand, pending = excluded.pending, "
                "verified_wall = excluded.verified_wall, full_wall = coalesce(excluded.full_wall, full_wall) "
                "WHERE excluded.seq >= verified_head.seq",
                (replayed.seq, head_hash, json.dumps(replayed.on_hand, sort_keys=True, separators=(",", ":")),
                 json.dumps(sorted(replayed.pending), separators=(",", ":")), wall, wall if full else None))
    except (LedgerUnwritable, sqlite3.OperationalError) as e:
        log.warning("verified head not kept (the next verify starts further back): %s", e)
