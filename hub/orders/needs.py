"""What a site needs replenished, per supplier: every location of its cabinets with an open refill task (the
refill_task_opened/closed events) or at or below min in the latest inventory snapshot, that no open order
covers yet and that nothing has refilled since it was seen.

A need is one cabinet location: the units that bring it back to max in whole refill packs (the agent's own
formula, edge_agent/ledger/minmax.py, on the snapshot's stock; the task's quantity when there is no snapshot
line), its SKU's supplier, pack size, cost and description from the cabinet's latest catalog in desired_docs.
A cabinet whose catalog the hub does not hold (its site is not run from the hub) falls back to the snapshot:
the tenant's name as supplier, packs of 1, no cost; `Need.fallback` says so."""
from dataclasses import dataclass

from edge_agent.ledger.minmax import refill_quantity


@dataclass
class Need:
    cabinet: str
    location: str
    sku: str
    units: int
    seen_seq: int
    task_id: int | None
    supplier: str
    package_size: int
    unit_cost: int | None
    description: str | None
    category: str | None
    fallback: bool


def catalog(conn, cabinet):
    """The cabinet's latest catalog body from desired_docs, or None."""
    found = conn.execute("SELECT body FROM desired_docs WHERE cabinet = %s AND what = 'catalog' "
                         "ORDER BY version DESC LIMIT 1", [cabinet]).fetchone()
    return found["body"] if found else None


def open_tasks(conn, cabinet):
    """{location: the latest open refill task's event body (with ledger_seq)}."""
    rows = conn.execute(
        "SELECT o.body FROM events o WHERE o.cabinet = %(c)s AND o.type = 'refill_task_opened' AND NOT EXISTS ("
        "SELECT 1 FROM events c WHERE c.cabinet = %(c)s AND c.type = 'refill_task_closed' "
        "AND c.body->>'task_id' = o.body->>'task_id') ORDER BY o.seq", {"c": cabinet}).fetchall()
    return {r["body"]["location"]: r["body"] for r in rows}


def refilled_since(conn, cabinet):
    """{location: the highest ledger seq of a refill visit that loaded it or a task that closed there}."""
    rows = conn.execute(
        "SELECT l->>'location' AS location, max((e.body->>'ledger_seq')::bigint) AS seq FROM events e, "
        "jsonb_array_elements(e.body->'summary'->'lines') l WHERE e.cabinet = %(c)s AND e.type = 'refill_visit' "
        "AND (l->>'loaded')::int > 0 GROUP BY 1 UNION ALL "
        "SELECT body->>'location', max((body->>'ledger_seq')::bigint) FROM events WHERE cabinet = %(c)s "
        "AND type = 'refill_task_closed' GROUP BY 1", {"c": cabinet}).fetchall()
    found = {}
    for r in rows:
        if r["seq"] is not None:
            found[r["location"]] = max(found.get(r["location"], 0), r["seq"])
    return found


def claimed(conn, cabinet):
    """{location: [earlier needs there]}: open ones block it; closed ones block evidence before blocks_from
    and a cancelled task that is still open."""
    found = {}
    for r in conn.execute("SELECT n.*, o.state FROM order_needs n JOIN orders o ON o.id = n.order_id "
                          "WHERE n.cabinet = %s", [cabinet]):
        found.setdefault(r["location"], []).append(r)
    return found


def _blocked(earlier, seen_seq, task_id):
    for n in earlier:
        if n["open"] or seen_seq < n["blocks_from"]:
            return True
        if task_id is not None and n["task_id"] == task_id and n["state"] == "cancelled":
            return True
    return False


def of_cabinet(conn, cabinet, tenant_name):
    """The cabinet's needs not yet on an order, in location order."""
    snapshot = conn.execute("SELECT body FROM inventory WHERE cabinet = %s", [cabinet]).fetchone()
    snapshot = snapshot["body"] if snapshot else {"locations": [], "as_of_seq": 0}
    cat = catalog(conn, cabinet)
    skus = {s["part_number"]: s for s in (cat or {}).get("skus", [])}
    layout = {loc["id"]: loc for loc in (cat or {}).get("locations", [])}
    tasks = open_tasks(conn, cabinet)
    refilled = refilled_since(conn, cabinet)
    earlier = claimed(conn, cabinet)
    stock = {loc["id"]: loc for loc in snapshot.get("locations", [])}
    needs = []
    for location in sorted(set(stock) | set(tasks)):
        loc, task = stock.get(location), tasks.get(location)
        placed = layout.get(location, {})
        if placed.get("returnable"):
            continue                                   # a tool on loan is not a shortage
        low = loc is not None and loc.get("sku") and loc["on_hand"] <= loc["min"] and loc["max"] > 0
        if not low and task is None:
            continue
        if low:
            units = refill_quantity(loc["on_hand"], loc["max"], placed.get("refill_pack") or 1, loc["min"])
            seen_seq, sku = snapshot["as_of_seq"], loc["sku"]
        else:
            units, seen_seq, sku = task["quantity"], task.get("ledger_seq") or 0, task["sku"]
        if task is not None:
            seen_seq = max(seen_seq, task.get("ledger_seq") or 0)
        task_id = task["task_id"] if task else None
        if units <= 0 or refilled.get(location, -1) > seen_seq or _blocked(earlier.get(location, []), seen_seq, task_id):
            continue
        item = skus.get(sku)
        needs.append(Need(cabinet, location, sku, units, seen_seq, task_id,
                          (item or {}).get("supplier") or tenant_name, (item or {}).get("package_size") or 1,
                          (item or {}).get("unit_cost"), (item or {}).get("description"),
                          (item or {}).get("category"), item is None))
    return needs


def of_site(conn, tenant, site):
    """{supplier: [Need]} for the site's cabinets."""
    tenant_name = conn.execute("SELECT name FROM tenants WHERE id = %s", [tenant]).fetchone()["name"]
    by_supplier = {}
    for c in conn.execute("SELECT id FROM cabinets WHERE tenant = %s AND site = %s ORDER BY id", [tenant, site]).fetchall():
        for need in of_cabinet(conn, c["id"], tenant_name):
            by_supplier.setdefault(need.supplier, []).append(need)
    return by_supplier
