"""Min/max after every stock change, inside the same SQLite transaction as the change itself.

Below min: one open refill task (for what brings the location up to max, in whole refill packs) and one
low-stock alert, however many transactions follow; the task's quantity follows the stock down. Zero on hand:
a stockout alert. Back at or above min (a refill, a return, a count): the task closes and the low-stock
alert clears; above zero the stockout clears. The partial unique indexes in the schema make "one open" a
rule of the database, not only of this code.

A returnable location (a locker door lending tools) is not consumable stock: a tool out on loan is not a
shortage, so it never opens a refill task or a stock alert; any left open by an older version close at its
next stock change. A tool overdue, lost or scrapped has its own alerts (flows/loan_records.py)."""
from edge_agent.ledger.alerts import clear_alert, raise_alert

LOW_STOCK = "low_stock"
STOCKOUT = "stockout"


def refill_quantity(on_hand, maximum, pack, minimum=0):
    """Up to max in whole refill packs; what is missing up to max (a partial pack) when not even one whole
    pack fits, or when whole packs would leave the location below min: a refill never ends below min."""
    need = max(0, maximum - on_hand)
    pack = max(1, pack or 1)
    whole = (need // pack) * pack
    return whole if whole and on_hand + whole >= minimum else need


def evaluate(ledger, location, seq, wall):
    """Bring the tasks and alerts of one location in line with its stock after transaction seq."""
    db = ledger.db
    loc = db.execute("SELECT on_hand, min, max, refill_pack, sku, returnable FROM locations WHERE id = ?",
                     [location]).fetchone()
    if loc is None:
        return
    on_hand, minimum, maximum, pack, sku, returnable = loc
    if returnable:
        _close(db, location, seq, wall)
        clear_alert(db, location, STOCKOUT, seq, wall)
        return
    if on_hand < minimum:
        quantity = refill_quantity(on_hand, maximum, pack, minimum)
        task = db.execute("SELECT id FROM refill_tasks WHERE location = ? AND closed_seq IS NULL",
                          [location]).fetchone()
        if task is None:
            db.execute("INSERT INTO refill_tasks (location, sku, quantity, opened_seq, opened_wall) "
                       "VALUES (?, ?, ?, ?, ?)", [location, sku, quantity, seq, wall])
        else:
            db.execute("UPDATE refill_tasks SET quantity = ? WHERE id = ?", [quantity, task[0]])
        raise_alert(db, location, LOW_STOCK, "%d on hand, min %d" % (on_hand, minimum), seq, wall)
    else:
        _close(db, location, seq, wall)
    if on_hand <= 0:
        raise_alert(db, location, STOCKOUT, "nothing on hand", seq, wall)
    else:
        clear_alert(db, location, STOCKOUT, seq, wall)


def _close(db, location, seq, wall):
    """The location's open refill task closes and its low-stock alert clears."""
    db.execute("UPDATE refill_tasks SET closed_seq = ?, closed_wall = ? WHERE location = ? AND closed_seq IS NULL",
               [seq, wall, location])
    clear_alert(db, location, LOW_STOCK, seq, wall)


def close_returnables(ledger):
    """Close the refill tasks and stock alerts an older version left open at returnable locations, as of the
    last row written (at start-up, in the caller's transaction)."""
    seq = ledger.cabinet()["next_seq"] - 1 or None
    wall = ledger.clock.wall()[0]
    for (location,) in ledger.db.execute(
            "SELECT id FROM locations WHERE returnable = 1 AND (EXISTS (SELECT 1 FROM refill_tasks t WHERE "
            "t.location = locations.id AND t.closed_seq IS NULL) OR EXISTS (SELECT 1 FROM alerts a WHERE "
            "a.location = locations.id AND a.kind IN (?, ?) AND a.cleared_wall IS NULL))",
            [LOW_STOCK, STOCKOUT]).fetchall():
        _close(ledger.db, location, seq, wall)
        clear_alert(ledger.db, location, STOCKOUT, seq, wall)
