"""The agent's offline ledger: one SQLite file (through sqlite-utils) holding the catalog, layout, people,
rules and the append-only, hash-chained transaction log. See docs/decisions/0006-ledger-schema.md.

    from edge_agent.ledger import open_ledger
    ledger = open_ledger("/var/lib/locker/ledger.db")
    seq, cmd_id = ledger.record_intent("issue", location="L3", quantity=1, user_id="u1")
    ... send VEND with cmd_id ...
    ledger.record_outcome(seq, "done", 1)
"""
from edge_agent.ledger.admin_log import record_admin_change
from edge_agent.ledger.chain import VerifyResult, verify
from edge_agent.ledger.clock import Clock, ManualClock, SystemClock
from edge_agent.ledger.db import Ledger, open_ledger
from edge_agent.ledger.errors import (AppendRefused, ImportRefused, LedgerError, LedgerUnwritable,
                                      MigrationError, SchemaTooNew)

__all__ = ["open_ledger", "Ledger", "verify", "VerifyResult", "Clock", "SystemClock", "ManualClock",
           "LedgerError", "LedgerUnwritable", "SchemaTooNew", "MigrationError", "AppendRefused", "ImportRefused",
           "record_admin_change"]
