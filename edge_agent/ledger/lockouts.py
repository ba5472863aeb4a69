"""PIN lockouts, measured on the monotonic clock (schema_v5): what is left of each, never a wall time.

`lock` starts one; `left_ms` says what is left now; `clear` ends it. Within one run of the monotonic clock
(`Clock.monotonic_epoch`, the OS boot) the time gone is exact, agent restarts included, whatever the wall
clock did. A reboot starts a new run: `resume` (at every agent start) counts the time the machine was off
only when the wall clock was synchronised both when the lockout was last measured and now, else it counts
nothing, and the lockout goes on from what was left. So a lockout never lasts more than its length of
running time, and a wall clock set forward or back neither ends it nor stretches it. The time between the last measurement and a
reboot is lost unless measured: the running agent calls `checkpoint` every CHECKPOINT_S, so a reboot
stretches a lockout by at most that (plus the time off, when the clock was not synchronised)."""
from edge_agent.ledger.clock import instant

CHECKPOINT_S = 60


def _now(ledger):
    clock = ledger.clock
    wall, synced = clock.wall()
    return clock.monotonic_epoch(), clock.monotonic_ms(), wall, int(bool(synced))


def lock(ledger, user_id, duration_ms):
    epoch, mono, wall, synced = _now(ledger)
    ledger.db.execute("INSERT OR REPLACE INTO pin_lockouts (user_id, left_ms, epoch, mono_ms, wall, clock_synced) "
                      "VALUES (?, ?, ?, ?, ?, ?)", [user_id, int(duration_ms), epoch, mono, wall, synced])


def left_ms(ledger, user_id):
    """Milliseconds of `user_id`'s lockout still to run (0: not locked). A row of another epoch not yet
    resumed counts from what was left when it was last measured."""
    row = ledger.db.execute("SELECT left_ms, epoch, mono_ms FROM pin_lockouts WHERE user_id = ?",
                            [user_id]).fetchone()
    if row is None:
        return 0
    left, epoch, mono = row
    if epoch == ledger.clock.monotonic_epoch():
        left -= max(0, ledger.clock.monotonic_ms() - mono)
    return max(0, left)


def clear(ledger, user_id):
    """End `user_id`'s lockout."""
    ledger.db.execute("DELETE FROM pin_lockouts WHERE user_id = ?", [user_id])


def resume(ledger):
    """Carry lockouts measured in an earlier run of the monotonic clock into this one (see the module)."""
    if not ledger.db["pin_lockouts"].exists():        # opened with the migrations of an older agent (upgrade tests)
        return
    epoch, mono, wall, synced = _now(ledger)
    for user_id, left, then_wall, then_synced in ledger.db.execute(
            "SELECT user_id, left_ms, wall, clock_synced FROM pin_lockouts WHERE epoch != ?", [epoch]).fetchall():
        if synced and then_synced:
            left -= max(0, int((instant(wall) - instant(then_wall)).total_seconds() * 1000))
        if left > 0:
            ledger.db.execute("UPDATE pin_lockouts SET left_ms = ?, epoch = ?, mono_ms = ?, wall = ?, clock_synced = ? "
                              "WHERE user_id = ?", [left, epoch, mono, wall, synced, user_id])
        else:
            ledger.db.execute("DELETE FROM pin_lockouts WHERE user_id = ?", [user_id])


def checkpoint(ledger):
    """Measure the lockouts of this run of the clock now, so a reboot loses little of their countdown."""
    epoch, mono, wall, synced = _now(ledger)
    if ledger.db.execute("SELECT 1 FROM pin_lockouts WHERE epoch = ? LIMIT 1", [epoch]).fetchone() is None:
        return                                   # nobody locked: no write, no write lock
    with ledger.transaction():
        ledger.db.execute("DELETE FROM pin_lockouts WHERE epoch = ? AND left_ms <= max(0, ? - mono_ms)", [epoch, mono])
        ledger.db.execute("UPDATE pin_lockouts SET left_ms = left_ms - max(0, ? - mono_ms), mono_ms = ?, wall = ?, "
                          "clock_synced = ? WHERE epoch = ?", [mono, mono, wall, synced, epoch])
