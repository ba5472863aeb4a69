"""The hash chain over the transactions table, and `verify`, which walks it.

Each row stores `hash = sha256(prev_hash + canonical bytes of the row)` and the previous row's hash, so an
edited, deleted or reordered row shows even when someone drops the append-only triggers and edits the file
with the sqlite3 CLI. What the chain cannot show alone is a consistent rewrite of the whole tail after an
edit, or a tail deleted with the head rolled back: the hash the cloud last acknowledged is the anchor for
that (integrity.py checks it, with the triggers, on_hand and the people tables).

The recipe (docs/decisions/0025-chain-anchored-by-the-cloud.md): `hash = sha256(prev_hash + canonical)`,
prev_hash as 64 lowercase hex ASCII characters (GENESIS_HASH, 64 zeros, for seq 1), canonical the row's
every column but `hash` and `prev_hash`, nulls left out, as JSON with sorted keys, no spaces, ASCII escapes.
"""
import hashlib
import json
from dataclasses import dataclass
from typing import Optional, Tuple

from edge_agent.ledger import integrity, verified_head

GENESIS_HASH = "0" * 64
# Not part of the hashed bytes: the hash itself, and prev_hash (already the prefix).
UNHASHED = ("hash", "prev_hash")
# json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True), without building an encoder per row.
_SORTED = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode
# The same bytes for fields already in key order (the table walk sorts the columns once).
_IN_ORDER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


def canonical_bytes(row):
    """The row as compact, key-sorted JSON of its non-null fields.

    Dropping nulls keeps old hashes valid when a later schema version adds a nullable column. Values are
    integers and text only (no floats in the ledger), so the encoding is exact.
    """
    fields = {k: v for k, v in row.items() if k not in UNHASHED and v is not None}
    return _SORTED(fields).encode("ascii")


def row_hash(prev_hash, row):
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_bytes(row)).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int  # rows that checked out before the first problem (walked now, or by the verify before)
    bad_seq: Optional[int] = None
    reason: Optional[str] = None
    problems: Tuple[str, ...] = ()  # what else is wrong (triggers, on_hand, people, the cloud's anchor)
    first_seq: int = 1  # where this walk started: 1 for a full check, else the verified head (verified_head.py)
    since: Optional[str] = None  # when the rows before first_seq were last verified (an incremental check)
    full: bool = True   # walked and replayed from seq 1

    def __str__(self):
        scope = ""
        if self.first_seq > 1:
            scope = " (walked from seq %d: the %d rows before it were verified %s; `verify --full` walks them " \
                "again)" % (self.first_seq, self.first_seq - 1, self.since)
        if self.ok:
            return "ledger OK: %d transactions, chain intact%s" % (self.checked, scope)
        lines = []
        if self.bad_seq is not None:
            lines.append("ledger TAMPERED at seq %d: %s (%d rows before it check out)%s" % (
                self.bad_seq, self.reason, self.checked, scope))
        else:
            lines.append("ledger TAMPERED: %s (the chain's %d rows check out)%s" % (self.reason, self.checked, scope))
        lines += ["  also: %s" % p for p in self.problems if p != self.reason]
        return "\n".join(lines)


def verify(ledger, full=False):
    """Walk the chain, then the checks of integrity.py; report the first bad seq and why (or the first other
    problem), every problem found, or ok. Incremental unless `full`: from the verified head on (or the cloud's
    last acknowledged row, when older), with on hand and pending intents replayed from what the log gave
    there (verified_head.py); a full check walks and replays from seq 1. A check that passes keeps its last
    row as the new verified head. All of it reads one snapshot of the file, even while the agent writes."""
    conn = ledger.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")          # a read transaction: rows, on hand and the head all as of one moment
    try:
        result, head_hash, replayed = _check(ledger.db, full)
    finally:
        if own:
            conn.execute("COMMIT")
    if result.ok:
        verified_head.store(ledger, head_hash, replayed, result.full)
    return result


def _check(db, full):
    next_seq, head_hash = db.execute("SELECT next_seq, head_hash FROM cabinet WHERE id = 1").fetchone() or (None, None)
    last = db.execute("SELECT coalesce(max(seq), 0) FROM transactions").fetchone()[0]
    head = None if full else verified_head.load(db)
    found_at_head = verified_head.problems(db, head) if head else []
    first, since, prev = 1, integrity.NOTHING, GENESIS_HASH
    if head and not found_at_head:
        start = verified_head.first_seq(db, head)
        before = db.execute("SELECT hash FROM transactions WHERE seq = ?", [start - 1]).fetchone()
        if start == 1 or before is not None:
            first, since, prev = start, head.replay, before[0] if before else GENESIS_HASH
    # Otherwise (none kept, it does not hold, a row missing before it) the walk goes from seq 1 to find where.
    walked = verify_cursor(db.execute("SELECT * FROM transactions WHERE seq >= ? ORDER BY seq", [first]),
                           next_seq, head_hash, first, prev)
    found, replayed = integrity.check(db, last, since)
    found += found_at_head
    scope = dict(first_seq=first, since=head.verified_wall if first > 1 else None, full=first == 1 and
                 since is integrity.NOTHING)
    checked = first - 1 + walked.checked       # the rows before the start checked out at the last verify
    if walked.ok and not found:
        return VerifyResult(True, checked, **scope), head_hash, replayed
    if walked.ok:
        return VerifyResult(False, checked, None, found[0], tuple(found), **scope), head_hash, replayed
    return (VerifyResult(False, checked, walked.bad_seq, walked.reason, tuple([walked.reason] + found), **scope),
            head_hash, replayed)


def verify_rows(rows, next_seq=None, head_hash=None, first_seq=1, prev_hash=GENESIS_HASH):
    """Check rows (dicts, in the order given) from seq first_seq, whose prev_hash must be `prev_hash` (seq 1:
    the genesis hash); next_seq and head_hash, if known, catch a deleted tail. Works on rows read back from a
    CSV export too. `checked` counts the rows walked."""
    return _walk(((r["seq"], r["prev_hash"], r["hash"], canonical_bytes(r)) for r in rows),
                 next_seq, head_hash, first_seq, prev_hash)


def verify_cursor(cursor, next_seq=None, head_hash=None, first_seq=1, prev_hash=GENESIS_HASH):
    """verify_rows for a cursor over `SELECT * FROM transactions ...` (tuples): the columns are sorted once,
    so each row is hashed without building and sorting a dict of every column. The ledger's own walk."""
    names = [d[0] for d in cursor.description]
    at = {name: i for i, name in enumerate(names)}
    hashed = sorted((name, i) for i, name in enumerate(names) if name not in UNHASHED)
    seq_at, prev_at, hash_at = at["seq"], at["prev_hash"], at["hash"]

    def items():
        for row in cursor:
            fields = {name: row[i] for name, i in hashed if row[i] is not None}
            yield row[seq_at], row[prev_at], row[hash_at], _IN_ORDER(fields).encode("ascii")
    return _walk(items(), next_seq, head_hash, first_seq, prev_hash)


def _walk(items, next_seq, head_hash, first_seq, prev_hash):
    """The chain check over (seq, prev_hash, hash, canonical bytes) in order."""
    expected_seq, checked = first_seq, 0
    for seq, row_prev, row_hash_stored, canonical in items:
        if seq != expected_seq:
            return VerifyResult(False, checked, expected_seq,
                                "seq %d is missing (deleted row): the next row is seq %d" % (expected_seq, seq))
        if row_prev != prev_hash:
            return VerifyResult(False, checked, seq,
                                "prev_hash does not match the hash of seq %d (rows reordered, or an earlier "
                                "row rewritten with a new hash)" % (seq - 1))
        if hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest() != row_hash_stored:
            return VerifyResult(False, checked, seq, "contents do not match its hash (row edited)")
        prev_hash = row_hash_stored
        expected_seq += 1
        checked += 1
    if next_seq is not None and next_seq > expected_seq:
        return VerifyResult(False, checked, expected_seq,
                            "seq %d to %d are missing (deleted from the end): the cabinet has issued up to "
                            "seq %d" % (expected_seq, next_seq - 1, next_seq - 1))
    if next_seq is not None and next_seq < expected_seq:
        return VerifyResult(False, checked, next_seq,
                            "the cabinet's next seq %d is behind its rows (head rolled back)" % next_seq)
    if head_hash is not None and head_hash != prev_hash:
        return VerifyResult(False, checked, expected_seq - 1,
                            "the last row's hash does not match the cabinet's head hash (last row replaced)")
    return VerifyResult(True, checked)
