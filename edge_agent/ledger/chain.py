"""The hash chain over the transactions table, and `verify`, which walks it.

Each row stores `hash = sha256(prev_hash + canonical bytes of the row)` and the previous row's hash, so an
edited, deleted or reordered row shows even when someone drops the append-only triggers and edits the file
with the sqlite3 CLI. What the chain cannot show alone is a consistent rewrite of the whole tail after an
edit; the cloud's copy of the hashes it has received is the anchor for that.
"""
import hashlib
import json
from dataclasses import dataclass
from typing import Optional

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

    def __str__(self):
        if self.ok:
            return "ledger OK: %d transactions, chain intact" % self.checked
        return "ledger TAMPERED at seq %d: %s (%d rows before it check out)" % (
            self.bad_seq, self.reason, self.checked)


def verify(ledger):
    """Walk the ledger's chain from seq 1; report the first bad seq and why, or ok."""
    db = ledger.db
    head = db.execute("SELECT next_seq, head_hash FROM cabinet WHERE id = 1").fetchone()
    rows = db.query("SELECT * FROM transactions ORDER BY seq")
    return verify_rows(rows, *(head or (None, None)))


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
