"""Versioned schema migrations, run every time the ledger is opened.

A migration is a numbered step: a list of SQL statements or a function taking the sqlite-utils Database.
Each step runs in its own transaction together with the row that records it in `schema_version`, so a
failure leaves the file at the last good version. A file newer than this agent knows is refused: writing
to it could drop what the newer schema holds.
"""
from dataclasses import dataclass
from typing import Callable, Sequence, Union

from edge_agent.ledger import (schema_v1, schema_v2, schema_v3, schema_v4, schema_v5, schema_v6, schema_v7,
                               schema_v8)
from edge_agent.ledger.errors import MigrationError, SchemaTooNew


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    steps: Union[Sequence[str], Callable]


MIGRATIONS = [
    Migration(1, "initial schema: cabinet, catalog, layout, people, rules, transactions, tasks, alerts",
              schema_v1.STATEMENTS),
    Migration(2, "returnable tools, weigh-bin accounting, approvers", schema_v2.STATEMENTS),
    Migration(3, "cloud sync: cloud_state, events outbox (filled by triggers), commands seen",
              schema_v3.STATEMENTS),
    Migration(4, "commissioning reports (outbox event by trigger)", schema_v4.STATEMENTS),
    Migration(5, "PIN lockouts on the monotonic clock", schema_v5.STATEMENTS),
    Migration(6, "admin chain rows (kind admin, detail), the cloud's acknowledged hash and chain break",
              schema_v6.migrate),
    Migration(7, "capacity, alert ends, count tasks, charge-to lists, refill visits, open bin takes and intents",
              schema_v7.STATEMENTS),
    Migration(8, "the verified head (incremental verify), an index of admin rows", schema_v8.STATEMENTS),
]


def schema_version(db):
    """The highest applied version, 0 for a file with no ledger yet."""
    if not db["schema_version"].exists():
        return 0
    return db.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def migrate(db, migrations=MIGRATIONS, wall_time=None):
    """Bring `db` up to the last of `migrations`; return the list of versions applied."""
    known = migrations[-1].version if migrations else 0
    versions = [m.version for m in migrations]
    if versions != list(range(1, known + 1)):
        raise MigrationError("migrations must be numbered 1, 2, 3... with no gap, got %r" % versions)
    db.execute("CREATE TABLE IF NOT EXISTS schema_version "
               "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_wall TEXT)")
    current = schema_version(db)
    if current > known:
        raise SchemaTooNew(
            "%s has ledger schema version %d but this agent knows only up to %d; refusing to open it "
            "(upgrade the agent, or restore a backup written by this version)" % (_name(db), current, known))
    applied = []
    for migration in migrations[current:]:
        db.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(db) >= migration.version:  # another process got there first
                db.execute("COMMIT")
                continue
            if callable(migration.steps):
                migration.steps(db)
            else:
                for statement in migration.steps:
                    db.execute(statement)
            db.execute("INSERT INTO schema_version (version, name, applied_wall) VALUES (?, ?, ?)",
                       [migration.version, migration.name, wall_time])
            db.execute("COMMIT")
        except Exception as exc:
            if db.conn.in_transaction:
                db.execute("ROLLBACK")
            raise MigrationError("%s: migration %d (%s) failed, left at version %d: %s"
                                 % (_name(db), migration.version, migration.name, migration.version - 1,
                                    exc)) from exc
        applied.append(migration.version)
    return applied


def _name(db):
    row = db.execute("PRAGMA database_list").fetchone()
    return row[2] or "in-memory ledger"
