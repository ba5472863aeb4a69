"""Schema version 7 (numbered 5 on this branch; the integrator renumbers): PIN lockouts on the monotonic clock.

A lockout was `users.locked_until`, a wall-clock time: one made while the clock read 2035 lasted until 2035
after the clock was corrected. `pin_lockouts` keeps what is left of each lockout as a duration measured on
the monotonic clock: `left_ms` as of the reading `mono_ms` in the clock's run `epoch` (the OS boot). Within
one epoch, restarts of the agent included, the time gone is the difference of two monotonic readings; after
a reboot the row is resumed (ledger/lockouts.py). Lockouts in progress are carried over as what their wall
time says is left (at most a day), to be counted from the agent's next start.
"""

STATEMENTS = [
    """CREATE TABLE pin_lockouts (
        user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        left_ms INTEGER NOT NULL CHECK (typeof(left_ms) = 'integer' AND left_ms > 0),
        epoch TEXT NOT NULL,
        mono_ms INTEGER NOT NULL CHECK (typeof(mono_ms) = 'integer'),
        wall TEXT NOT NULL,
        clock_synced INTEGER NOT NULL CHECK (clock_synced IN (0, 1))
    )""",
    "INSERT INTO pin_lockouts (user_id, left_ms, epoch, mono_ms, wall, clock_synced) "
    "SELECT id, CAST(min(86400000, (julianday(locked_until) - julianday('now')) * 86400000) AS INTEGER), "
    "'', 0, locked_until, 0 FROM users "
    "WHERE locked_until IS NOT NULL AND julianday(locked_until) - julianday('now') > 0.00000002",
    "ALTER TABLE users DROP COLUMN locked_until",
]
