"""Min/max after every stock change, inside the same SQLite transaction as the change itself.

Below min: one open refill task (for what brings the location up to max, in whole refill packs) and one
low-stock alert, however many transactions follow; the task's quantity follows the stock down. Zero on hand:
a stockout alert. Back at or above min (a refill, a return, a count): the task closes and the low-stock
alert clears; above zero the stockout clears. The partial unique indexes in the schema make "one open" a
rule of the database, not only of this code."""
from edge_agent.ledger.alerts import clear_alert, raise_alert

LOW_STOCK = "low_stock"
STOCKOUT = "stockout"


def refill_quantity(on_hand, maximum, pack):
    """Up to max in whole refill packs; a partial pack only when not even one whole pack fits."""
    need = max(0, maximum - on_hand)
    pack = max(1, pack or 1)
    return (need // pack) * pack or need


def evaluate(ledger, location, seq, wall):
    """Bring the tasks and alerts of one location in line with its stock after transaction seq."""
    db = ledger.db
    loc = db.execute("SELECT on_hand, min, max, refill_pack, sku FROM locations WHERE id = ?",
                     [location]).fetchone()
    if loc is None:
        return
    on_hand, minimum, maximum, pack, sku = loc
    if on_hand < minimum:
        quantity = refill_quantity(on_hand, maximum, pack)
        task = db.execute("SELECT id FROM refill_tasks WHERE location = ? AND closed_seq IS NULL",
                          [location]).fetchone()
        if task is None:
            db.execute("INSERT INTO refill_tasks (location, sku, quantity, opened_seq, opened_wall) "
                       "VALUES (?, ?, ?, ?, ?)", [location, sku, quantity, seq, wall])
        else:
            db.execute("UPDATE refill_tasks SET quantity = ? WHERE id = ?", [quantity, task[0]])
        raise_alert(db, location, LOW_STOCK, "%d on hand, min %d" % (on_hand, minimum), seq, wall)
    else:
        db.execute("UPDATE refill_tasks SET closed_seq = ?, closed_wall = ? WHERE location = ? AND closed_seq IS NULL",
                   [seq, wall, location])
        clear_alert(db, location, LOW_STOCK, seq, wall)
    if on_hand <= 0:
        raise_alert(db, location, STOCKOUT, "nothing on hand", seq, wall)
    else:
        clear_alert(db, location, STOCKOUT, seq, wall)
