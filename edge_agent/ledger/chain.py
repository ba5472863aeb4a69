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

from edge_agent.ledger import integrity

GENESIS_HASH = "0" * 64
# Not part of the hashed bytes: the hash itself, and prev_hash (already the prefix).
UNHASHED = ("hash", "prev_hash")


def canonical_bytes(row):
    """The row as compact, key-sorted JSON of its non-null fields.

    Dropping nulls keeps old hashes valid when a later schema version adds a nullable column. Values are
    integers and text only (no floats in the ledger), so the encoding is exact.
    """
    fields = {k: v for k, v in row.items() if k not in UNHASHED and v is not None}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def row_hash(prev_hash, row):
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_bytes(row)).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int  # rows that checked out before the first problem
    bad_seq: Optional[int] = None
    reason: Optional[str] = None
    problems: Tuple[str, ...] = ()  # what else is wrong (triggers, on_hand, people, the cloud's anchor)

    def __str__(self):
        if self.ok:
            return "ledger OK: %d transactions, chain intact" % self.checked
        lines = []
        if self.bad_seq is not None:
            lines.append("ledger TAMPERED at seq %d: %s (%d rows before it check out)" % (
                self.bad_seq, self.reason, self.checked))
        else:
            lines.append("ledger TAMPERED: %s (the chain's %d rows check out)" % (self.reason, self.checked))
        lines += ["  also: %s" % p for p in self.problems if p != self.reason]
        return "\n".join(lines)


def verify(ledger):
    """Walk the ledger's chain from seq 1, then the checks of integrity.py; report the first bad seq and
    why (or the first other problem), every problem found, or ok."""
    db = ledger.db
    head = db.execute("SELECT next_seq, head_hash FROM cabinet WHERE id = 1").fetchone()
    rows = db.query("SELECT * FROM transactions ORDER BY seq")
    walked = verify_rows(rows, *(head or (None, None)))
    found = integrity.problems(db)
    if walked.ok and not found:
        return walked
    if walked.ok:
        return VerifyResult(False, walked.checked, None, found[0], tuple(found))
    return VerifyResult(False, walked.checked, walked.bad_seq, walked.reason, tuple([walked.reason] + found))


def verify_rows(rows, next_seq=None, head_hash=None):
    """Check rows (dicts, in the order given) from seq 1; next_seq and head_hash, if known, catch a
    deleted tail. Works on rows read back from a CSV export too."""
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for row in rows:
        seq = row["seq"]
        if seq != expected_seq:
            return VerifyResult(False, checked, expected_seq,
                                "seq %d is missing (deleted row): the next row is seq %d" % (expected_seq, seq))
        if row["prev_hash"] != prev_hash:
            return VerifyResult(False, checked, seq,
                                "prev_hash does not match the hash of seq %d (rows reordered, or an earlier "
                                "row rewritten with a new hash)" % (seq - 1))
        if row_hash(prev_hash, row) != row["hash"]:
            return VerifyResult(False, checked, seq, "contents do not match its hash (row edited)")
        prev_hash = row["hash"]
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
