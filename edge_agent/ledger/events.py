"""Writing one event into the ledger's events outbox (`outbox_events`, schema_v3.py): the one INSERT that
cloud/outbox.record_event and the refusal tally (refusal_tally.py) share."""
import json


def insert_event(ledger, type_, ledger_seq, fields):
    """Insert an event with the ledger clock's wall time and synced flag, inside the caller's SQLite
    transaction when one is open; return its seq."""
    wall, synced = ledger.clock.wall()
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    with ledger.transaction():
        cursor = ledger.db.execute("INSERT INTO outbox_events (type, wall, clock_synced, ledger_seq, body) "
                                   "VALUES (?, ?, ?, ?, ?)", [type_, wall, int(bool(synced)), ledger_seq, body])
        return cursor.lastrowid
