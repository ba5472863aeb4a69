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


def evaluate(ledger, location, seq, wall, stock=None):
    """Bring the tasks and alerts of one location in line with its stock after transaction seq. stock: the
    location's (on_hand, min, max, refill_pack, sku, returnable) as the change left them (Ledger._append has
    them), else read. What is open there is read first, so a task or alert already as it should be is not
    written again."""
    db = ledger.db
    if stock is None:
        stock = db.execute("SELECT on_hand, min, max, refill_pack, sku, returnable FROM locations WHERE id = ?",
                           [location]).fetchone()
        if stock is None:
            return
    on_hand, minimum, maximum, pack, sku, returnable = stock
    # {"task": (id, quantity)} for the open refill task, {kind: (id, detail)} for the open stock alerts.
    found = {what: (key, value) for what, key, value in ledger.conn.execute(_OPEN_SQL, (location,))}
    if returnable:
        _close_open(db, location, seq, wall, found)
        if STOCKOUT in found:
            clear_alert(db, location, STOCKOUT, seq, wall)
        return
    if on_hand < minimum:
        quantity = refill_quantity(on_hand, maximum, pack, minimum)
        task = found.get("task")
        if task is None:
            db.execute("INSERT INTO refill_tasks (location, sku, quantity, opened_seq, opened_wall) "
                       "VALUES (?, ?, ?, ?, ?)", [location, sku, quantity, seq, wall])
        elif task[1] != quantity:
            db.execute("UPDATE refill_tasks SET quantity = ? WHERE id = ?", [quantity, task[0]])
        _raise(db, location, LOW_STOCK, "%d on hand, min %d" % (on_hand, minimum), seq, wall, found)
    else:
        _close_open(db, location, seq, wall, found)
    if on_hand <= 0:
        _raise(db, location, STOCKOUT, "nothing on hand", seq, wall, found)
    elif STOCKOUT in found:
        clear_alert(db, location, STOCKOUT, seq, wall)


# The location's open refill task and open stock alerts, both through their partial unique indexes.
_OPEN_SQL = ("SELECT 'task', id, quantity FROM refill_tasks WHERE location = ?1 AND closed_seq IS NULL "
             "UNION ALL SELECT kind, id, detail FROM alerts WHERE coalesce(location, '') = coalesce(?1, '') "
             "AND kind IN ('%s', '%s') AND cleared_wall IS NULL" % (LOW_STOCK, STOCKOUT))


def _raise(db, location, kind, detail, seq, wall, found):
    """raise_alert, unless it is open with these words already (then it would write nothing)."""
    if kind not in found or found[kind][1] != detail:
        raise_alert(db, location, kind, detail, seq, wall, is_open=kind in found)


def _close_open(db, location, seq, wall, found):
    """_close for what `found` says is open: the open task closes, the low-stock alert clears."""
    if "task" in found:
        db.execute("UPDATE refill_tasks SET closed_seq = ?, closed_wall = ? WHERE location = ? AND closed_seq "
                   "IS NULL", [seq, wall, location])
    if LOW_STOCK in found:
        clear_alert(db, location, LOW_STOCK, seq, wall)


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
