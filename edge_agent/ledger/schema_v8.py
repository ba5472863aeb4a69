"""Schema version 8: `verify` goes on from where it last stopped, and reads what it needs from indexes (issue 18,
docs/decisions/0050-append-path-and-incremental-verify.md).

- `verified_head`, one row: the last transaction a passing `verify` checked (seq and hash) and what the log
  gave at that row (on hand per location, the intents then pending: JSON), with when it was verified and when
  the last full check passed. The next `verify` walks the chain from there instead of from seq 1, and
  `verify --full` from seq 1 (verified_head.py). No row: never verified, the first check is a full one.
- `transactions_admin`: a partial index of the admin rows, so the people check finds the last admin row's
  digest at once instead of walking the log back to it.

Added only (a table, an index): an existing ledger migrates in one transaction, no hash changes.
"""

STATEMENTS = [
    """CREATE TABLE verified_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL CHECK (typeof(seq) = 'integer' AND seq >= 1),
        hash TEXT NOT NULL CHECK (length(hash) = 64),
        on_hand TEXT NOT NULL CHECK (json_valid(on_hand)),
        pending TEXT NOT NULL CHECK (json_valid(pending)),
        verified_wall TEXT NOT NULL,
        full_wall TEXT
    )""",
    "CREATE INDEX transactions_admin ON transactions(seq) WHERE kind = 'admin'",
]
