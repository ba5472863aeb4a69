"""What the admin listing commands of `locker-agent` show: users, stock, transactions, refill tasks, alerts.

Each listing returns rows as dicts whose keys are the columns in display order, so one renderer prints an
aligned text table for a person and the same rows as one JSON document for a script."""
import datetime
import json

from edge_agent.flows import loans
from edge_agent.ledger import minmax
from edge_agent.ledger.count_tasks import open_count_tasks
from edge_agent.rules.access import Access
from edge_agent.ledger.alerts import open_alert_rows

STATE_WORDS = {"expired": "expired", "not_yet_valid": "not yet valid",
               "clock_unsynced": "has dates: waits for the clock to be synchronised"}


def users(ledger, role=None):
    """People with their badge count and whether they could sign in now (no PIN hash is ever shown)."""
    query = ("SELECT u.*, (SELECT count(*) FROM badges b WHERE b.user_id = u.id) AS badge_count FROM users u"
             + (" WHERE u.role = ?" if role else "") + " ORDER BY u.id")
    access = Access(ledger)
    rows = []
    for user in ledger.db.query(query, [role] if role else []):
        # The same judgment the agent makes at the cabinet (validity window, then PIN lockout).
        refusal = access.window_refusal(user)
        locked_s = access.locked_for_s(user["id"])
        state = STATE_WORDS.get(refusal, "ok")
        if locked_s and not refusal:
            state = "PIN locked for %d s more" % locked_s
        rows.append({"id": user["id"], "name": user["name"], "role": user["role"],
                     "department": user["department"], "cost_center": user["cost_center"],
                     "supplier": user["supplier"], "valid_to": user["valid_to"], "badges": user["badge_count"],
                     "pin": "set" if user["pin_hash"] else "none", "wrong_pins": user["failed_pins"],
                     "state": state})
    return rows


def stock_state(on_hand, minimum):
    """OUT at zero, LOW below min: the thresholds min/max raises its stockout and low-stock alerts at."""
    if on_hand <= 0:
        return "OUT"
    return "LOW" if on_hand < minimum else "OK"


def stock(ledger, below_min=False):
    """Every location with its SKU, on-hand against min/max, and what a refill would bring."""
    query = ("SELECT l.id, l.kind, l.sku, s.description, s.supplier, l.on_hand, l.min, l.max, l.quarantine, "
             "l.refill_pack FROM locations l LEFT JOIN skus s ON s.part_number = l.sku"
             + (" WHERE l.on_hand < l.min" if below_min else "")
             + " ORDER BY l.kind, CAST(substr(l.id, 2) AS INTEGER)")
    rows = []
    for loc in ledger.db.query(query):
        below = loc["on_hand"] < loc["min"]
        rows.append({"location": loc["id"], "kind": loc["kind"], "sku": loc["sku"],
                     "description": loc["description"], "supplier": loc["supplier"], "on_hand": loc["on_hand"],
                     "min": loc["min"], "max": loc["max"], "quarantine": loc["quarantine"],
                     "state": stock_state(loc["on_hand"], loc["min"]) if loc["sku"] else "no SKU",
                     "refill": minmax.refill_quantity(loc["on_hand"], loc["max"], loc["refill_pack"], loc["min"])
                     if below else 0})
    return rows


def transactions(ledger, last=20, since=None):
    """The last `last` transactions, or every one after seq `since`, oldest first, one line each."""
    if since is not None:
        found = list(ledger.transactions(since))
    else:
        found = list(ledger.db.query("SELECT * FROM transactions ORDER BY seq DESC LIMIT ?", [last]))[::-1]
    rows = []
    for t in found:
        notes = [t["outcome"], "of #%d" % t["intent_seq"] if t["intent_seq"] else None, t["reason"],
                 t["work_order"] and "work order " + t["work_order"],
                 t["machine_id"] and "machine " + t["machine_id"],
                 t.get("approver_id") and "approved by " + t["approver_id"], t.get("condition")]
        rows.append({"seq": t["seq"], "time": t["wall_time"], "clock_synced": bool(t["clock_synced"]),
                     "kind": t["kind"], "action": t["action"], "user": t["user_id"] or t["badge_id"],
                     "location": t["location"], "sku": t["sku"], "qty": t["quantity"],
                     "detail": "; ".join(n for n in notes if n)})
    return rows


def refill_tasks(ledger, include_closed=False):
    """Open refill tasks (what min/max asks a driver to bring), oldest first; with closed ones on request."""
    query = ("SELECT t.location, t.sku, s.description, s.supplier, t.quantity, l.on_hand, t.opened_wall, "
             "t.closed_wall FROM refill_tasks t JOIN locations l ON l.id = t.location "
             "LEFT JOIN skus s ON s.part_number = t.sku"
             + ("" if include_closed else " WHERE t.closed_seq IS NULL") + " ORDER BY t.id")
    return [{"location": r["location"], "sku": r["sku"], "description": r["description"],
             "supplier": r["supplier"], "quantity": r["quantity"], "on_hand": r["on_hand"],
             "opened": r["opened_wall"], **({"closed": r["closed_wall"]} if include_closed else {})}
            for r in ledger.db.query(query)]


def alerts(ledger):
    """Open alerts, oldest first: id (for an acknowledgement), where, kind, detail, since when, who acknowledged."""
    return [{"id": a["id"], "location": a["location"], "kind": a["kind"], "detail": a["detail"],
             "since": short_time(a["raised_wall"]), "acknowledged_by": a["acked_by"]}
            for a in open_alert_rows(ledger.db)]


def count_tasks(ledger):
    """Open count tasks (a lane suspected empty...), oldest first: where to count, why, what the ledger says."""
    return [{"location": t["location"], "description": t["description"], "on_hand": t["on_hand"],
             "reason": t["reason"], "opened": t["opened_wall"]} for t in open_count_tasks(ledger)]


def tools_out(ledger):
    """Every tool out on loan now, soonest due first, with whether it is overdue (the loan id for tool-lost)."""
    late = {loan.id for loan in loans.overdue(ledger)}
    return [{"loan": loan.id, "location": loan.location, "sku": loan.sku, "user": loan.user_id,
             "quantity": loan.quantity, "opened": loan.out_wall, "due": loan.due_wall,
             "overdue": "yes" if loan.id in late else "no"} for loan in loans.open_loans(ledger)]


def short_time(iso):
    """'2026-03-16T09:00:00.123+00:00' -> '2026-03-16 09:00:00' (UTC): what a person reads in a table."""
    moment = datetime.datetime.fromisoformat(iso)
    if moment.tzinfo:
        moment = moment.astimezone(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


TIME_COLUMNS = ("time", "opened", "closed", "due")


def _for_text(row):
    row = {k: short_time(v) if k in TIME_COLUMNS and v else v for k, v in row.items()}
    if "clock_synced" in row:
        # a `?` marks a time read from a clock not known to be synchronised (a Pi with no RTC)
        row["time"] += "" if row.pop("clock_synced") else "?"
    return row


def render(rows, as_json=False, empty="nothing to show"):
    """One JSON document (values as stored), or an aligned text table for a person: times in UTC to the
    second, numbers right-aligned, a blank value shown as -."""
    if as_json:
        return json.dumps(rows, indent=2)
    if not rows:
        return empty
    rows = [_for_text(row) for row in rows]
    columns = list(rows[0])
    cells = [[c.replace("_", " ") for c in columns]] + [["-" if r[c] is None else str(r[c]) for c in columns]
                                                         for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    numeric = [all(isinstance(r[c], int) for r in rows) for c in columns]
    lines = ["  ".join(cell.rjust(w) if num else cell.ljust(w) for cell, w, num in zip(line, widths, numeric))
             .rstrip() for line in cells]
    return "\n".join(lines)
