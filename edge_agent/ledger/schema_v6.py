"""Schema version 6: a chain that cannot be rewritten quietly (docs/decisions/0025-chain-anchored-by-the-cloud.md).

- A transaction kind `admin` and a nullable `detail` column: imports, pushed settings and desired state,
  PIN changes and remote unlocks are chain rows, `reason` saying what changed and `detail` (compact JSON)
  the particulars and the digest of the people tables after the change (admin_log.py). Rows written before
  keep their hashes: the chain hashes non-null fields only.
- `cloud_state.tx_acked_hash`: the hash of the transaction the cloud last acknowledged (its `ack` carries
  it), the anchor `verify` compares the ledger with; `cloud_state.chain_break`: the cloud's word that it
  found the chain broken and stopped acknowledging (JSON: seq, kind, detail), shown by `verify` and raised
  as a `chain_break` alert.

SQLite cannot alter a CHECK constraint, and rebuilding the transactions table would copy every row of the
chain. Widening `kind IN (...)` by one value loosens the constraint (every stored row still satisfies it), the
case SQLite documents as safe to do by rewriting the table's SQL in sqlite_schema (writable_schema), with the
schema cookie raised so that every connection reloads the schema.
"""
from edge_agent.ledger.errors import MigrationError
from edge_agent.ledger.schema_v1 import TRANSACTION_KINDS

ADMIN = "admin"
KINDS = TRANSACTION_KINDS + (ADMIN,)


def _in(values):
    return "(" + ", ".join("'%s'" % v for v in values) + ")"

STATEMENTS = [
    "ALTER TABLE transactions ADD COLUMN detail TEXT",
    "ALTER TABLE cloud_state ADD COLUMN tx_acked_hash TEXT",
    "ALTER TABLE cloud_state ADD COLUMN chain_break TEXT CHECK (chain_break IS NULL OR json_valid(chain_break))",
]


def migrate(db):
    """Run in migrate()'s write transaction: widen the kind CHECK, then the plain statements."""
    old, new = "kind IN %s" % _in(TRANSACTION_KINDS), "kind IN %s" % _in(KINDS)
    sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'transactions'").fetchone()[0]
    if sql.count(old) != 1:
        raise MigrationError("transactions: the kind CHECK is not the one schema version 1 wrote")
    cookie = db.execute("PRAGMA schema_version").fetchone()[0]
    db.execute("PRAGMA writable_schema = ON")
    try:
        db.execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'transactions'",
                   [sql.replace(old, new)])
        db.execute("PRAGMA schema_version = %d" % (cookie + 1))
    finally:
        db.execute("PRAGMA writable_schema = OFF")
    for statement in STATEMENTS:
        db.execute(statement)
