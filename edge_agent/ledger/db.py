"""Opening the ledger and writing transactions to it.

`open_ledger` gives a `Ledger`: one SQLite file in WAL mode with synchronous=FULL (a committed stock or money
record survives a power cut), foreign keys on and a busy timeout; it migrates the schema and counts a boot.

`Ledger.append` is the only way a transaction row is written: it assigns the next per-cabinet seq, the boot,
the clock's readings and the chain hash, and applies the row's stock change, all in one SQLite transaction,
so a crash leaves both the row and its on-hand change, or neither.
"""
import contextlib
import os
import sqlite3

import sqlite_utils

from edge_agent.ledger import count_tasks
from edge_agent.ledger import minmax
from edge_agent.ledger import chain
from edge_agent.ledger import lockouts
from edge_agent.ledger.effects import effect_of
from edge_agent.ledger.clock import SystemClock
from edge_agent.ledger.errors import AppendRefused, LedgerError, LedgerUnwritable
from edge_agent.ledger.migrations import MIGRATIONS, migrate
from edge_agent.ledger.schema_v1 import ACTIONS
from edge_agent.ledger.schema_v6 import KINDS as TRANSACTION_KINDS
from edge_agent.link.codes import CMD_ID_MAX

BUSY_TIMEOUT_MS = 5000
MIN_FREE_MB = 64      # below this much free space for the ledger's folder nothing is actuated ([ledger] min_free_mb)
# SQLite's answers meaning the file cannot be written now (Ledger.transaction raises LedgerUnwritable).
UNWRITABLE = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN")


# Fields a caller may give; seq, boot, times and hashes are the ledger's to assign.
CALLER_FIELDS = ("action", "user_id", "badge_id", "sku", "location", "quantity", "unit_cost", "work_order",
                 "machine_id", "cost_center", "cmd_id", "intent_seq", "outcome", "reason", "approver_id",
                 "condition", "weight_mg", "fw_boot", "detail")
INTEGER_FIELDS = ("quantity", "unit_cost", "cmd_id", "intent_seq", "weight_mg", "fw_boot")
INTEGER_MAX = 2 ** 63 - 1
TEXT_MAX = 1000     # the last door: the API caps each field far lower (rules/bounds.py)


def open_ledger(path, clock=None, *, cabinet_id=None, count_boot=True, migrations=MIGRATIONS):
    """Open (creating if needed) the ledger at `path`, migrate it, and start a new boot.

    `count_boot=False` is for read-only tools (verify, export) that are not the agent starting up.
    """
    clock = clock or SystemClock()
    # isolation_level=None: we issue BEGIN IMMEDIATE ourselves so the write lock is taken up front.
    conn = _connect(path)
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal" and str(path) != ":memory:":
            raise LedgerError("%s: could not switch to WAL (journal_mode is %s)" % (path, mode))
        # FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power loss.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        db = sqlite_utils.Database(conn)
        migrate(db, migrations, wall_time=clock.wall()[0])
        ledger = Ledger(db, clock, path=str(path))
        ledger._start(cabinet_id, count_boot)
        return ledger
    except BaseException:
        conn.close()
        raise


def _connect(path):
    """The connection, or a LedgerError naming the file when it cannot be opened at all (a missing folder, a
    folder the service user may not write): a config error for `run`, not a traceback."""
    conn = None
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = %d" % BUSY_TIMEOUT_MS)
        conn.execute("PRAGMA schema_version").fetchone()    # reads the file: fails here if it cannot be opened
        return conn
    except sqlite3.OperationalError as e:
        if conn is not None:
            conn.close()
        raise LedgerError("cannot open the ledger %s: %s (does its folder exist, and may this user write "
                          "there?)" % (path, e)) from None


class Ledger:
    """The agent's ledger. Use `open_ledger` to get one."""

    def __init__(self, db, clock, path):
        self.db = db  # the sqlite_utils.Database, for queries
        self.clock = clock
        self.path = path
        self.boot = None
        self.min_free_mb = MIN_FREE_MB    # the agent sets its [ledger] min_free_mb

    # -- free space ------------------------------------------------------------------------------------
    def free_mb(self):
        """Free space for the ledger's folder in MB (what an unprivileged writer may use); None in memory."""
        if self.path == ":memory:":
            return None
        st = os.statvfs(os.path.dirname(os.path.abspath(self.path)))
        return st.f_bavail * st.f_frsize / 2 ** 20

    def space_low(self):
        """Whether the ledger's folder has less free space than min_free_mb: no intent is written then."""
        free = self.free_mb()
        return free is not None and free < self.min_free_mb

    # -- lifecycle -------------------------------------------------------------------------------------
    def _start(self, cabinet_id, count_boot):
        with self.transaction():
            self.db.execute("INSERT OR IGNORE INTO cabinet (id, cabinet_id, boot, next_seq, head_hash) "
                            "VALUES (1, ?, 0, 1, ?)", [cabinet_id, chain.GENESIS_HASH])
            stored = self.cabinet()["cabinet_id"]
            if cabinet_id is not None and stored not in (None, cabinet_id):
                raise LedgerError("%s belongs to cabinet %r, not %r" % (self.path, stored, cabinet_id))
            if cabinet_id is not None and stored is None:
                self.db.execute("UPDATE cabinet SET cabinet_id = ? WHERE id = 1", [cabinet_id])
            if count_boot:
                self.db.execute("UPDATE cabinet SET boot = boot + 1 WHERE id = 1")
                lockouts.resume(self)        # lockouts from before a reboot go on in this run of the clock
                minmax.close_returnables(self)   # tool loans are not shortages (an older version said so)
        self.boot = self.cabinet()["boot"]

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def transaction(self):
        """One SQLite transaction (a savepoint when nested): all of it lands, or none of it."""
        if self.db.conn.in_transaction:
            with self.db.atomic():
                yield self
            return
        self.db.execute("BEGIN IMMEDIATE")  # take the write lock now, not halfway through
        try:
            yield self
            self.db.execute("COMMIT")       # a COMMIT that fails (disk full) is rolled back like the rest
        except BaseException as e:
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error) and getattr(e, "sqlite_errorname", "").startswith(UNWRITABLE):
                raise LedgerUnwritable("%s: %s" % (self.path, e)) from e
            raise

    # -- reading ---------------------------------------------------------------------------------------
    def cabinet(self):
        return dict(self.db["cabinet"].get(1))

    def on_hand(self, location):
        row = self.db.execute("SELECT on_hand FROM locations WHERE id = ?", [location]).fetchone()
        if row is None:
            raise LedgerError("no location %r" % location)
        return row[0]

    def transaction_row(self, seq):
        rows = list(self.db.query("SELECT * FROM transactions WHERE seq = ?", [seq]))
        return rows[0] if rows else None

    def transactions(self, since_seq=0):
        """Transaction rows with seq > since_seq, in seq order (never wall-time order)."""
        return self.db.query("SELECT * FROM transactions WHERE seq > ? ORDER BY seq", [since_seq])

    def pending_intents(self):
        """Intents with no outcome yet: what start-up recovery must reconcile with the cabinet (read from
        open_intents, which triggers keep: schema_v7)."""
        return list(self.db.query("SELECT i.* FROM open_intents p JOIN transactions i ON i.seq = p.seq "
                                  "ORDER BY i.seq"))

    def verify(self):
        return chain.verify(self)

    # -- writing ---------------------------------------------------------------------------------------
    def append(self, kind, **fields):
        """Write one transaction row and its stock change; return the row as written (a dict)."""
        with self.transaction():
            return self._append(kind, fields)

    def record_intent(self, action, *, location, quantity=None, **fields):
        """Write an intent before any actuator moves; return (seq, cmd_id) for the cabinet command."""
        if action not in ACTIONS:
            raise AppendRefused("unknown action %r (one of %s)" % (action, ", ".join(ACTIONS)))
        with self.transaction():
            seq = self.cabinet()["next_seq"]
            if seq > CMD_ID_MAX:
                raise AppendRefused("seq %d is above the cabinet link's command id bound %d" % (seq, CMD_ID_MAX))
            # cmd_id = the intent's own seq: unique and increasing for ever, as the firmware requires.
            row = self._append("intent", dict(fields, action=action, location=location, quantity=quantity,
                                              cmd_id=seq))
        return row["seq"], row["cmd_id"]

    def record_outcome(self, intent_seq, outcome, quantity_charged, **fields):
        """Write the outcome of an intent and apply its stock change; return the outcome's seq.

        quantity_charged is what actually moved (0 for a lane vend with no drop). An outcome is written
        once per intent: a second one is refused, so nothing is counted twice.
        """
        with self.transaction():
            intent = self.transaction_row(intent_seq)
            if intent is None or intent["kind"] != "intent":
                raise AppendRefused("seq %r is not an intent" % intent_seq)
            if self.db.execute("SELECT 1 FROM transactions WHERE kind = 'outcome' AND intent_seq = ?",
                               [intent_seq]).fetchone():
                raise AppendRefused("intent %d already has an outcome" % intent_seq)
            copied = {k: intent[k] for k in ("action", "user_id", "badge_id", "sku", "location", "unit_cost",
                                              "work_order", "machine_id", "cost_center")}
            copied.update(fields)
            row = self._append("outcome", dict(copied, intent_seq=intent_seq, outcome=outcome,
                                               quantity=quantity_charged))
        return row["seq"]

    def _append(self, kind, fields):
        """Write the row, its stock change and the new head; the caller holds the SQLite transaction."""
        if kind not in TRANSACTION_KINDS:
            raise AppendRefused("unknown transaction kind %r (one of %s)" % (kind, ", ".join(TRANSACTION_KINDS)))
        unknown = sorted(set(fields) - set(CALLER_FIELDS))
        if unknown:
            raise AppendRefused("%s: fields not allowed: %s" % (kind, ", ".join(unknown)))
        row = {k: _checked_value(kind, k, fields.get(k)) for k in CALLER_FIELDS}
        effect = self._stock_effect(kind, row)
        if row["location"] is not None:
            location = self.db.execute("SELECT sku FROM locations WHERE id = ?", [row["location"]]).fetchone()
            if location is None and effect is not None:
                raise AppendRefused("%s: no location %r" % (kind, row["location"]))
            if location is not None and row["sku"] is None:
                row["sku"] = location[0]
        if row["sku"] is not None and row["unit_cost"] is None:
            cost = self.db.execute("SELECT unit_cost FROM skus WHERE part_number = ?", [row["sku"]]).fetchone()
            row["unit_cost"] = cost[0] if cost else None

        head = self.cabinet()
        wall_time, synced = self.clock.wall()
        row.update(seq=head["next_seq"], boot=self.boot, wall_time=wall_time, clock_synced=int(bool(synced)),
                   monotonic_ms=int(self.clock.monotonic_ms()), kind=kind, prev_hash=head["head_hash"])
        row["hash"] = chain.row_hash(row["prev_hash"], row)
        # Nulls left out: the hash ignores them, and a ledger opened with an older schema lacks later columns.
        self.db["transactions"].insert({k: v for k, v in row.items() if v is not None})
        # A count by a person, or one that changes on-hand, settles the count task; a restatement (an import
        # or the cloud's catalog re-stating on-hand to re-evaluate min/max) counted nothing.
        counted = kind == "count" and (row["user_id"] is not None or self.on_hand(row["location"]) != row["quantity"])
        if effect == "set":
            self.db.execute("UPDATE locations SET on_hand = ? WHERE id = ?", [row["quantity"], row["location"]])
        elif effect is not None:
            self.db.execute("UPDATE locations SET on_hand = on_hand + ? WHERE id = ?",
                            [effect * row["quantity"], row["location"]])
        self.db.execute("UPDATE cabinet SET next_seq = ?, head_hash = ? WHERE id = 1",
                        [row["seq"] + 1, row["hash"]])
        if counted:     # the count task closes and count-ended alerts end, before min/max sees the counted stock
            count_tasks.settle_by_count(self.db, row["location"], row["seq"], wall_time)
        if effect is not None:
            minmax.evaluate(self, row["location"], row["seq"], wall_time)   # same SQLite transaction
        return row

    @staticmethod
    def _stock_effect(kind, row):
        """None, a signed multiplier for quantity, or "set"; refuses rows that cannot say what moved."""
        effect = effect_of(kind, row["action"])
        if effect is None:
            return None
        quantity = row["quantity"]
        if row["location"] is None:
            raise AppendRefused("%s: a location is needed to move stock" % kind)
        if not isinstance(quantity, int) or isinstance(quantity, bool):
            raise AppendRefused("%s: quantity must be a whole number, got %r" % (kind, quantity))
        if kind != "adjustment" and quantity < 0:
            raise AppendRefused("%s: quantity must not be negative, got %d (use an adjustment)" % (kind, quantity))
        return effect


def _checked_value(kind, name, value):
    """Integers stay integers and text stays text, so the hash computed now matches the row read back."""
    if value is None:
        return None
    if name in INTEGER_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise AppendRefused("%s: %s must be a whole number, got %r" % (kind, name, value))
        if not -INTEGER_MAX <= value <= INTEGER_MAX:        # SQLite's 64 bits (and no row has a use for more)
            raise AppendRefused("%s: %s is out of range: %d digits" % (kind, name, len(str(abs(value)))))
        return value
    if not isinstance(value, str):
        raise AppendRefused("%s: %s must be text, got %r" % (kind, name, value))
    if len(value) > TEXT_MAX:
        raise AppendRefused("%s: %s is %d characters, more than %d" % (kind, name, len(value), TEXT_MAX))
    return value or None  # "" and None are one thing in the ledger (and in a CSV export)
