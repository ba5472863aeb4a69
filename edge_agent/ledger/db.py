"""Opening the ledger and writing transactions to it.

`open_ledger` gives a `Ledger`: one SQLite file in WAL mode with synchronous=FULL (a committed stock or money
record survives a power cut), foreign keys on and a busy timeout; it migrates the schema and counts a boot.

`Ledger.append` is the only way a transaction row is written: it assigns the next per-cabinet seq, the boot,
the clock's readings and the chain hash, and applies the row's stock change, all in one SQLite transaction,
so a crash leaves both the row and its on-hand change, or neither.

The append path is plain prepared SQL on the connection (Python's sqlite3 keeps the prepared statements; the
INSERT for each set of columns is built once): sqlite-utils stays for the schema, imports and the admin
commands. A step inside another step joins the outer SQLite transaction with no savepoint of its own
(docs/decisions/0050-append-path-and-incremental-verify.md).
"""
import functools
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
_CALLER_SET = frozenset(CALLER_FIELDS)
INTEGER_FIELDS = ("quantity", "unit_cost", "cmd_id", "intent_seq", "weight_mg", "fw_boot")
INTEGER_MAX = 2 ** 63 - 1
PENDING_SQL = "SELECT i.* FROM open_intents p CROSS JOIN transactions i ON i.seq = p.seq ORDER BY p.seq"
TEXT_MAX = 1000     # the last door: the API caps each field far lower (rules/bounds.py)
# What an append reads, in one statement: the head, and the row's location (whether it exists, its SKU, the
# unit cost of the row's SKU or else the location's, and what min/max needs after the stock change).
_HEAD_SQL = ("SELECT c.next_seq, c.head_hash, l.id IS NOT NULL, l.sku, s.unit_cost, l.on_hand, l.min, l.max, "
             "l.refill_pack, l.sku, l.returnable FROM cabinet c LEFT JOIN locations l ON l.id = ?1 "
             "LEFT JOIN skus s ON s.part_number = coalesce(?2, l.sku) WHERE c.id = 1")


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
        self.conn = db.conn     # the hot path's plain sqlite3 connection
        self.clock = clock
        self._depth = 0         # how many Ledger.transaction blocks are open (0: none of ours)
        self._failed = None     # the error that left an inner block: the outer one must not commit
        self.path = path
        self._folder = os.path.dirname(os.path.abspath(path))   # as the file was opened: asked before each actuation
        self.boot = None
        self.min_free_mb = MIN_FREE_MB    # the agent sets its [ledger] min_free_mb

    # -- free space ------------------------------------------------------------------------------------
    def free_mb(self):
        """Free space for the ledger's folder in MB (what an unprivileged writer may use); None in memory."""
        if self.path == ":memory:":
            return None
        st = os.statvfs(self._folder)
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

    def transaction(self):
        """One SQLite transaction: all of it lands, or none of it.

        A block inside another is part of the outer transaction, with no savepoint: an error that leaves the
        inner block fails the whole transaction even when the caller catches it, so half a step never lands.
        Inside a transaction someone else opened on the connection (a migration, a test's BEGIN), a savepoint."""
        return _Transaction(self)

    # -- reading ---------------------------------------------------------------------------------------
    def cabinet(self):
        return self.one("SELECT * FROM cabinet WHERE id = 1", ())

    def on_hand(self, location):
        row = self.conn.execute("SELECT on_hand FROM locations WHERE id = ?", (location,)).fetchone()
        if row is None:
            raise LedgerError("no location %r" % location)
        return row[0]

    def transaction_row(self, seq):
        return self.one("SELECT * FROM transactions WHERE seq = ?", (seq,))

    def one(self, sql, args=()):
        """The first row as a dict (its columns as the table has them now), or None."""
        cursor = self.conn.execute(sql, args)
        row = cursor.fetchone()
        return None if row is None else dict(zip([d[0] for d in cursor.description], row))

    def transactions(self, since_seq=0):
        """Transaction rows with seq > since_seq, in seq order (never wall-time order)."""
        return self.db.query("SELECT * FROM transactions WHERE seq > ? ORDER BY seq", [since_seq])

    def pending_intents(self):
        """Intents with no outcome yet: what start-up recovery must reconcile with the cabinet (read from
        open_intents, which triggers keep: schema_v7). CROSS JOIN keeps SQLite to that order: the few open
        seqs first, each row then by its primary key, never a scan of the log (PENDING_SQL's plan, tested)."""
        cursor = self.conn.execute(PENDING_SQL)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor]

    def verify(self, full=False):
        """Check the chain and what it vouches for (chain.verify): from the verified head on, or from seq 1
        with full=True."""
        return chain.verify(self, full)

    # -- writing ---------------------------------------------------------------------------------------
    def append(self, kind, **fields):
        """Write one transaction row and its stock change; return the row as written (a dict)."""
        with self.transaction():
            return self._append(kind, fields)

    def record_intent(self, action, *, location, quantity=None, **fields):
        """Write an intent before any actuator moves; return (seq, cmd_id) for the cabinet command."""
        row = self.intent(action, location=location, quantity=quantity, **fields)
        return row["seq"], row["cmd_id"]

    def intent(self, action, *, location, quantity=None, **fields):
        """record_intent, returning the intent row as written (a dict): what the actuator settles."""
        if action not in ACTIONS:
            raise AppendRefused("unknown action %r (one of %s)" % (action, ", ".join(ACTIONS)))
        with self.transaction():
            return self._append("intent", dict(fields, action=action, location=location, quantity=quantity),
                                cmd_id_is_seq=True)

    def record_outcome(self, intent_seq, outcome, quantity_charged, **fields):
        """Write the outcome of an intent and apply its stock change; return the outcome's seq.

        quantity_charged is what actually moved (0 for a lane vend with no drop). An outcome is written
        once per intent: a second one is refused, so nothing is counted twice.
        """
        with self.transaction():
            return self.settle(self.transaction_row(intent_seq), outcome, quantity_charged, seq=intent_seq,
                               **fields)["seq"]

    def settle(self, intent, outcome, quantity_charged, seq=None, **fields):
        """record_outcome for an intent row the caller read in its open SQLite transaction (the actuator has
        it already); returns the outcome row as written."""
        with self.transaction():
            if intent is None or intent["kind"] != "intent":
                raise AppendRefused("seq %r is not an intent" % (seq if intent is None else intent["seq"]))
            intent_seq = intent["seq"]
            if self.conn.execute("SELECT 1 FROM transactions WHERE kind = 'outcome' AND intent_seq = ?",
                                 (intent_seq,)).fetchone():
                raise AppendRefused("intent %d already has an outcome" % intent_seq)
            copied = {k: intent[k] for k in ("action", "user_id", "badge_id", "sku", "location", "unit_cost",
                                              "work_order", "machine_id", "cost_center")}
            copied.update(fields)
            return self._append("outcome", dict(copied, intent_seq=intent_seq, outcome=outcome,
                                                quantity=quantity_charged))

    def _append(self, kind, fields, cmd_id_is_seq=False):
        """Write the row, its stock change and the new head; the caller holds the SQLite transaction.
        cmd_id_is_seq: an intent, whose cmd_id is its own seq (record_intent)."""
        if kind not in TRANSACTION_KINDS:
            raise AppendRefused("unknown transaction kind %r (one of %s)" % (kind, ", ".join(TRANSACTION_KINDS)))
        if not _CALLER_SET.issuperset(fields):
            raise AppendRefused("%s: fields not allowed: %s" % (kind, ", ".join(sorted(set(fields) - _CALLER_SET))))
        row = dict.fromkeys(CALLER_FIELDS)
        for k, v in fields.items():
            if v is not None:
                row[k] = _checked_value(kind, k, v)
        effect = self._stock_effect(kind, row)
        conn = self.conn
        next_seq, head_hash, found, sku, unit_cost, *stock = conn.execute(
            _HEAD_SQL, (row["location"], row["sku"])).fetchone()
        if row["location"] is not None:
            if not found and effect is not None:
                raise AppendRefused("%s: no location %r" % (kind, row["location"]))
            if found and row["sku"] is None:
                row["sku"] = sku
        if row["sku"] is not None and row["unit_cost"] is None:
            row["unit_cost"] = unit_cost
        if cmd_id_is_seq:
            if next_seq > CMD_ID_MAX:
                raise AppendRefused("seq %d is above the cabinet link's command id bound %d" % (next_seq, CMD_ID_MAX))
            row["cmd_id"] = next_seq    # unique and increasing for ever, as the firmware requires

        wall_time, synced = self.clock.wall()
        row.update(seq=next_seq, boot=self.boot, wall_time=wall_time, clock_synced=int(bool(synced)),
                   monotonic_ms=int(self.clock.monotonic_ms()), kind=kind, prev_hash=head_hash)
        row["hash"] = chain.row_hash(head_hash, row)
        # Nulls left out: the hash ignores them, and a ledger opened with an older schema lacks later columns.
        written = {k: v for k, v in row.items() if v is not None}
        conn.execute(_insert_sql(tuple(written)), tuple(written.values()))
        on_hand = stock[0]
        # A count by a person, or one that changes on-hand, settles the count task; a restatement (an import
        # or the cloud's catalog re-stating on-hand to re-evaluate min/max) counted nothing.
        counted = kind == "count" and (row["user_id"] is not None or on_hand != row["quantity"])
        if effect == "set":
            conn.execute("UPDATE locations SET on_hand = ? WHERE id = ?", (row["quantity"], row["location"]))
            on_hand = row["quantity"]
        elif effect is not None:
            conn.execute("UPDATE locations SET on_hand = on_hand + ? WHERE id = ?",
                         (effect * row["quantity"], row["location"]))
            on_hand += effect * row["quantity"]
        conn.execute("UPDATE cabinet SET next_seq = ?, head_hash = ? WHERE id = 1", (next_seq + 1, row["hash"]))
        if counted:     # the count task closes and count-ended alerts end, before min/max sees the counted stock
            count_tasks.settle_by_count(self.db, row["location"], row["seq"], wall_time)
        if effect is not None:      # same SQLite transaction; the location as the update left it
            minmax.evaluate(self, row["location"], row["seq"], wall_time, stock=[on_hand] + stock[1:])
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


class _Transaction:
    """Ledger.transaction's block, a class rather than a generator-based context manager: every append opens
    two or three of them (its step, the settle, the append), and a generator costs several times the calls."""
    __slots__ = ("ledger", "atomic", "own")

    def __init__(self, ledger):
        self.ledger = ledger
        self.atomic = None      # the savepoint inside a transaction someone else opened
        self.own = False        # this block began the SQLite transaction

    def __enter__(self):
        ledger = self.ledger
        if ledger._depth:
            ledger._depth += 1
        elif ledger.conn.in_transaction:
            self.atomic = ledger.db.atomic()
            self.atomic.__enter__()
        else:
            ledger.conn.execute("BEGIN IMMEDIATE")  # take the write lock now, not halfway through
            ledger._depth, ledger._failed, self.own = 1, None, True
        return ledger

    def __exit__(self, exc_type, exc, tb):
        ledger = self.ledger
        if self.atomic is not None:
            return self.atomic.__exit__(exc_type, exc, tb)
        if not self.own:
            ledger._depth -= 1
            if exc is not None:
                ledger._failed = ledger._failed or exc
            return False
        conn = ledger.conn
        body_error = exc
        try:
            if exc is None:
                if ledger._failed is not None:
                    raise LedgerError("%s: a step of this transaction failed (%s); nothing of it was written"
                                      % (ledger.path, ledger._failed)) from ledger._failed
                conn.execute("COMMIT")       # a COMMIT that fails (disk full) is rolled back like the rest
                return False
        except BaseException as e:
            exc = e
        finally:
            ledger._depth, ledger._failed = 0, None
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorname", "").startswith(UNWRITABLE):
            raise LedgerUnwritable("%s: %s" % (ledger.path, exc)) from exc
        if exc is body_error:
            return False            # the body's own error goes on as it was raised
        raise exc


@functools.lru_cache(maxsize=256)
def _insert_sql(columns):
    """The INSERT of a transaction row with these (non-null) columns: built once per set of columns, so the
    connection's statement cache hands back the same prepared statement for every row like it."""
    return "INSERT INTO transactions (%s) VALUES (%s)" % (", ".join(columns), ", ".join("?" * len(columns)))


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
