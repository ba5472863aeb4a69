"""Schema version 1 of the ledger, as plain SQLite DDL.

CHECK constraints keep bad values out whoever writes (the agent, a migration, an operator with the sqlite3
CLI): money is integer cents, quantities are integers, kinds and roles come from closed lists.
"""

ROLES = ("technician", "supervisor", "contractor", "route_driver", "supplier_admin", "customer_admin")
LOCATION_KINDS = {"door": "D", "lane": "L", "bin": "B", "scan": "S"}
OWNERSHIP = ("consignment", "customer")
TRANSACTION_KINDS = ("issue", "return", "refill", "count", "adjustment", "intent", "outcome", "refusal")
# What an intent (and its outcome) is for. Only the first three move stock.
ACTIONS = ("issue", "return", "refill", "count", "clear_lane", "tare", "calibrate")


def _in(values):
    return "(" + ", ".join("'%s'" % v for v in values) + ")"


STATEMENTS = [
    # One row: who this cabinet is, which boot of the agent we are in, and the next sequence number.
    # next_seq and head_hash advance in the same SQLite transaction as the row they describe.
    """CREATE TABLE cabinet (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        cabinet_id TEXT,
        boot INTEGER NOT NULL DEFAULT 0 CHECK (typeof(boot) = 'integer' AND boot >= 0),
        next_seq INTEGER NOT NULL DEFAULT 1 CHECK (typeof(next_seq) = 'integer' AND next_seq >= 1),
        head_hash TEXT NOT NULL
    )""",
    """CREATE TABLE skus (
        part_number TEXT PRIMARY KEY CHECK (length(part_number) > 0),
        description TEXT NOT NULL DEFAULT '',
        category TEXT,
        package_size INTEGER NOT NULL DEFAULT 1 CHECK (typeof(package_size) = 'integer' AND package_size >= 1),
        unit_cost INTEGER NOT NULL DEFAULT 0 CHECK (typeof(unit_cost) = 'integer' AND unit_cost >= 0),
        criticality TEXT,
        supplier TEXT,
        ownership TEXT NOT NULL DEFAULT 'consignment' CHECK (ownership IN %s)
    )""" % _in(OWNERSHIP),
    """CREATE TABLE locations (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN %s),
        unit INTEGER CHECK (unit IS NULL OR (typeof(unit) = 'integer' AND unit >= 0)),
        sku TEXT REFERENCES skus(part_number),
        on_hand INTEGER NOT NULL DEFAULT 0 CHECK (typeof(on_hand) = 'integer'),
        min INTEGER NOT NULL DEFAULT 0 CHECK (typeof(min) = 'integer' AND min >= 0),
        max INTEGER NOT NULL DEFAULT 0 CHECK (typeof(max) = 'integer' AND max >= min),
        refill_pack INTEGER NOT NULL DEFAULT 1 CHECK (typeof(refill_pack) = 'integer' AND refill_pack >= 1),
        piece_weight_mg INTEGER CHECK (piece_weight_mg IS NULL OR piece_weight_mg > 0),
        quarantine INTEGER NOT NULL DEFAULT 0 CHECK (quarantine >= 0),
        -- the id's letter says the kind: D2 is a door, L3 a lane, B1 a weigh bin, S1 a scan-only bin
        CHECK (substr(id, 1, 1) = CASE kind %s END AND CAST(substr(id, 2) AS INTEGER) >= 1
               AND substr(id, 2) GLOB '[0-9]*' AND NOT substr(id, 2) GLOB '*[^0-9]*')
    )""" % (_in(LOCATION_KINDS), " ".join("WHEN '%s' THEN '%s'" % kv for kv in LOCATION_KINDS.items())),
    """CREATE TABLE users (
        id TEXT PRIMARY KEY CHECK (length(id) > 0),
        name TEXT NOT NULL DEFAULT '',
        role TEXT NOT NULL CHECK (role IN %s),
        department TEXT,
        cost_center TEXT,
        supplier TEXT,
        valid_from TEXT,
        valid_to TEXT,
        pin_hash TEXT CHECK (pin_hash IS NULL OR pin_hash LIKE 'scrypt$%%'),
        failed_pins INTEGER NOT NULL DEFAULT 0,
        locked_until TEXT
    )""" % _in(ROLES),
    """CREATE TABLE badges (
        badge_id TEXT PRIMARY KEY CHECK (length(badge_id) > 0),
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE
    )""",
    "CREATE INDEX badges_user ON badges(user_id)",
    # Rules. A role may take an SKU if an allow row names the SKU or its category.
    """CREATE TABLE role_allows (
        role TEXT NOT NULL CHECK (role IN %s),
        sku TEXT REFERENCES skus(part_number) ON DELETE CASCADE,
        category TEXT,
        CHECK ((sku IS NULL) != (category IS NULL)),
        UNIQUE (role, sku, category)
    )""" % _in(ROLES),
    """CREATE TABLE user_limits (
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        sku TEXT REFERENCES skus(part_number) ON DELETE CASCADE,
        category TEXT,
        period TEXT NOT NULL CHECK (period IN ('shift', 'day')),
        max_quantity INTEGER NOT NULL CHECK (typeof(max_quantity) = 'integer' AND max_quantity >= 0),
        CHECK ((sku IS NULL) != (category IS NULL)),
        UNIQUE (user_id, sku, category, period)
    )""",
    """CREATE TABLE sku_requirements (
        sku TEXT PRIMARY KEY REFERENCES skus(part_number) ON DELETE CASCADE,
        needs_approval INTEGER NOT NULL DEFAULT 0 CHECK (needs_approval IN (0, 1)),
        needs_work_order INTEGER NOT NULL DEFAULT 0 CHECK (needs_work_order IN (0, 1)),
        needs_machine_id INTEGER NOT NULL DEFAULT 0 CHECK (needs_machine_id IN (0, 1))
    )""",
    # The append-only, hash-chained log. No foreign keys on purpose: it records what happened, even for a
    # badge that was unknown or a user removed since; its integrity is the chain (chain.py).
    """CREATE TABLE transactions (
        seq INTEGER PRIMARY KEY CHECK (typeof(seq) = 'integer' AND seq >= 1),
        boot INTEGER NOT NULL,
        wall_time TEXT NOT NULL,
        clock_synced INTEGER NOT NULL CHECK (clock_synced IN (0, 1)),
        monotonic_ms INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN %s),
        action TEXT CHECK (action IS NULL OR action IN %s),
        user_id TEXT,
        badge_id TEXT,
        sku TEXT,
        location TEXT,
        quantity INTEGER CHECK (quantity IS NULL OR typeof(quantity) = 'integer'),
        unit_cost INTEGER CHECK (unit_cost IS NULL OR typeof(unit_cost) = 'integer'),
        work_order TEXT,
        machine_id TEXT,
        cost_center TEXT,
        cmd_id INTEGER UNIQUE,
        intent_seq INTEGER REFERENCES transactions(seq),
        outcome TEXT,
        reason TEXT,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE
    )""" % (_in(TRANSACTION_KINDS), _in(ACTIONS)),
    # An intent has at most one outcome: a second one would count the movement twice.
    "CREATE UNIQUE INDEX transactions_one_outcome ON transactions(intent_seq) WHERE kind = 'outcome'",
    "CREATE INDEX transactions_user_time ON transactions(user_id, seq)",
    "CREATE INDEX transactions_location ON transactions(location, seq)",
    """CREATE TRIGGER transactions_no_update BEFORE UPDATE ON transactions
       BEGIN SELECT RAISE(ABORT, 'transactions are append-only: UPDATE refused'); END""",
    """CREATE TRIGGER transactions_no_delete BEFORE DELETE ON transactions
       BEGIN SELECT RAISE(ABORT, 'transactions are append-only: DELETE refused'); END""",
    """CREATE TABLE refill_tasks (
        id INTEGER PRIMARY KEY,
        location TEXT NOT NULL REFERENCES locations(id),
        sku TEXT,
        quantity INTEGER NOT NULL CHECK (quantity >= 0),
        opened_seq INTEGER NOT NULL REFERENCES transactions(seq),
        opened_wall TEXT NOT NULL,
        closed_seq INTEGER REFERENCES transactions(seq),
        closed_wall TEXT
    )""",
    "CREATE UNIQUE INDEX refill_tasks_one_open ON refill_tasks(location) WHERE closed_seq IS NULL",
    """CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        location TEXT REFERENCES locations(id),
        kind TEXT NOT NULL,
        detail TEXT,
        raised_seq INTEGER REFERENCES transactions(seq),
        raised_wall TEXT NOT NULL,
        cleared_seq INTEGER REFERENCES transactions(seq),
        cleared_wall TEXT
    )""",
    # One open alert per location and kind: low stock raises once, not once per transaction.
    "CREATE UNIQUE INDEX alerts_one_open ON alerts(coalesce(location, ''), kind) WHERE cleared_wall IS NULL",
]
