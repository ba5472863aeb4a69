"""Schema version 2: returnable tools, weigh-bin accounting and who approved what.

Every added column is nullable or has a default, so rows written under version 1 keep their hashes (the
chain hashes non-null fields only) and their meaning.
"""

CONDITIONS = ("good", "damaged")

STATEMENTS = [
    # Who approved an issue that needed a supervisor; the condition a tool came back in; for weigh bins the
    # stable weight change (mg) a row was counted from, so a count can be checked against the scale later.
    "ALTER TABLE transactions ADD COLUMN approver_id TEXT",
    # The firmware boot an intent was sent to: if that boot is still running and never saw the command id,
    # the command provably never arrived (recovery settles it as not sent instead of unknown).
    "ALTER TABLE transactions ADD COLUMN fw_boot INTEGER CHECK (fw_boot IS NULL OR typeof(fw_boot) = 'integer')",
    "ALTER TABLE transactions ADD COLUMN condition TEXT CHECK (condition IS NULL OR condition IN ('good', 'damaged'))",
    "ALTER TABLE transactions ADD COLUMN weight_mg INTEGER CHECK (weight_mg IS NULL OR typeof(weight_mg) = 'integer')",
    # A locker door may hold returnable tools: checked out with a due time, checked back in.
    "ALTER TABLE locations ADD COLUMN returnable INTEGER NOT NULL DEFAULT 0 CHECK (returnable IN (0, 1))",
    "ALTER TABLE locations ADD COLUMN loan_hours INTEGER CHECK (loan_hours IS NULL OR loan_hours > 0)",
    # A weigh bin's last stable weight the ledger has accounted for: the baseline the next change is
    # counted from, and what start-up recovery compares the scale with.
    "ALTER TABLE locations ADD COLUMN weight_mg INTEGER",
    # Per-user limits sum what the user took since the start of the day or shift: without this the sum
    # reads every row the user ever wrote (21 ms for a heavy user at a million rows, bench/minmax_million.py).
    "CREATE INDEX transactions_user_wall ON transactions(user_id, wall_time)",
    """CREATE TABLE tool_loans (
        id INTEGER PRIMARY KEY,
        location TEXT NOT NULL REFERENCES locations(id),
        sku TEXT,
        user_id TEXT NOT NULL,
        quantity INTEGER NOT NULL DEFAULT 1 CHECK (typeof(quantity) = 'integer' AND quantity >= 1),
        out_seq INTEGER NOT NULL REFERENCES transactions(seq),
        out_wall TEXT NOT NULL,
        due_wall TEXT NOT NULL,
        in_seq INTEGER REFERENCES transactions(seq),
        in_wall TEXT,
        condition TEXT CHECK (condition IS NULL OR condition IN ('good', 'damaged'))
    )""",
    "CREATE INDEX tool_loans_open ON tool_loans(user_id) WHERE in_seq IS NULL",
]
